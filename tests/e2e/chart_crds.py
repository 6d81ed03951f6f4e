"""The CRDs the chart's optional objects need (HTTPRoute, ServiceMonitor), from their Go
modules through the Go module cache: pinned versions and module checksums, nothing
committed. `go mod download` verifies each module against the checksum database too.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Stack
from tests.stack.exclusive import exclusive


@dataclass(frozen=True)
class ModuleCrd:
    module: str
    version: str
    sum: str  # go.sum's h1: hash of the module's zip
    path: str  # the CRD's file in the module
    name: str  # the CRD's metadata.name


HTTP_ROUTE = ModuleCrd(
    "sigs.k8s.io/gateway-api",
    "v1.6.3",  # v1.7 needs go 1.27
    "h1:lKpJa5bGlraC/QeACvCpsHLdmO6y0iKfzVl6gzaFEYc=",
    "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
    "httproutes.gateway.networking.k8s.io",
)
SERVICE_MONITOR = ModuleCrd(
    "github.com/prometheus-operator/prometheus-operator",
    "v0.85.0",
    "h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s=",
    "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    "servicemonitors.monitoring.coreos.com",
)
CRDS = (HTTP_ROUTE, SERVICE_MONITOR)


def crd_file(crd: ModuleCrd) -> Path:
    with tempfile.TemporaryDirectory() as outside_any_module:
        done = subprocess.run(
            ["go", "mod", "download", "-json", f"{crd.module}@{crd.version}"],
            cwd=outside_any_module,
            env={**os.environ, "GO111MODULE": "on", "GOTOOLCHAIN": "local", "GOFLAGS": ""},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    info = json.loads(done.stdout or "{}")
    assert done.returncode == 0 and "Error" not in info, done.stderr + done.stdout
    assert info["Sum"] == crd.sum, f"{crd.module}@{crd.version}: {info['Sum']} != {crd.sum}"
    return Path(info["Dir"]) / crd.path


def ensure_crds(stack: Stack, cluster: str = "mgmt") -> None:
    """Applies the CRDs (server-side: too large for the last-applied annotation) and waits
    until they are served. Left in place, like Helm leaves CRDs: other sessions reuse them."""
    with exclusive("chart-crds"):
        for crd in CRDS:
            stack.kubectl(
                cluster,
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=scipian-chart-tests",
                "-f",
                str(crd_file(crd)),
            )
        stack.kubectl(
            cluster,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *(f"crd/{crd.name}" for crd in CRDS),
        )

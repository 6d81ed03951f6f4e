"""The backend's image (`make image`) runs as the chart's pod on the stack's real node.

`helm install` of charts/scipian-backend into a namespace of the test's own on mgmt, pinned
to the real node (nodeSelector and toleration), `hostNetwork` on a free port, with
`kubernetesService` pointing in-cluster configuration at mgmt's loopback address: the
backend reaches mgmt with its ServiceAccount's projected token and CA, and nothing else
(no kubeconfig). The kubelet runs the chart's probes, read-only root and non-root user for
real. (Pods on the node's bridge network cannot reach mgmt, which listens on loopback only
and has no kube-proxy: real-node.md caveat 7; hence hostNetwork.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.e2e import real_node as rn
from tests.e2e.semver_proxy import SemverProxy
from tests.e2e.test_helm_chart import CHART, Helm
from tests.e2e.test_helm_chart import real_helm as real_helm  # the module's fixture
from tests.stack import backend_daemon

pytestmark = pytest.mark.stack
READY_BOUND = 180.0  # a bound on waiting, not a timing assertion


@dataclass(frozen=True)
class Installed:
    namespace: str
    release: str
    port: int
    service_account: str
    pod: dict[str, object]


def _mgmt_address(stack: Stack) -> tuple[str, int]:
    text = stack.kubeconfig("mgmt").read_text()
    server = next(ln.split("server:", 1)[1].strip() for ln in text.splitlines() if "server:" in ln)
    url = urlparse(server)
    assert url.hostname and url.port
    return url.hostname, url.port


@pytest.fixture(scope="module")
def installed(
    stack: Stack,
    real_node: rn.RealNode,
    real_helm: Helm,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Installed]:
    rn.import_backend_image(real_node.timings)
    work = tmp_path_factory.mktemp("real-node-backend")
    proxy = SemverProxy(stack.kubeconfig("mgmt"), work)
    namespace = f"real-node-{uuid.uuid4().hex[:8]}"
    release = "rn"
    stack.kubectl("mgmt", "create", "namespace", namespace)
    host, mgmt_port = _mgmt_address(stack)
    port = backend_daemon.free_port()
    values = {
        "replicas": 1,
        "image": {"pullPolicy": "Never"},  # imported into the node's containerd: no registry
        "oidc": {"issuer": stack.env["STACK_IDP_ISSUER"]},
        "hostNetwork": True,
        "containerPort": port,
        "kubernetesService": {"host": host, "port": str(mgmt_port)},
        "nodeSelector": rn.NODE_SELECTOR,
        "tolerations": rn.TOLERATIONS,
        "rbac": {"createArtifactsNamespace": False, "createDashboardNamespace": False},
        # Stops at once on uninstall (the defaults wait 20 s + drain for a balancer).
        "shutdown": {"unreadySeconds": 0, "drainSeconds": 1},
        # The probe's default period (10 s) would only slow the test down.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 1,
            "timeoutSeconds": 5,
            "failureThreshold": 1,
        },
    }
    values_file = work / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    env = {"KUBECONFIG": str(proxy.kubeconfig())}
    started = time.monotonic()
    try:
        done = real_helm.run(
            "install", release, str(CHART), "-n", namespace, "-f", str(values_file), env=env
        )
        assert done.returncode == 0, done.stderr
        waited = stack.kubectl(
            "mgmt", "-n", namespace, "wait", "--for=condition=Ready", "pod",
            "-l", "app.kubernetes.io/instance=rn", f"--timeout={READY_BOUND:.0f}s", check=False,
        )  # fmt: skip
        pods = json.loads(
            stack.kubectl("mgmt", "-n", namespace, "get", "pods", "-o", "json").stdout
        )
        assert waited.returncode == 0, (waited.stderr, _describe(stack, namespace))
        real_node.timings["backend pod install to Ready"] = time.monotonic() - started
        (pod,) = pods["items"]
        yield Installed(namespace, release, port, f"{release}-scipian-backend", pod)
    finally:
        real_helm.run("uninstall", release, "-n", namespace, "--wait", env=env)
        stack.kubectl("mgmt", "delete", "namespace", namespace, "--wait=false", check=False)
        proxy.stop()


def _describe(stack: Stack, namespace: str) -> str:
    out = stack.kubectl("mgmt", "-n", namespace, "describe", "pods", check=False)
    logs = stack.kubectl("mgmt", "-n", namespace, "logs", "-l", "app.kubernetes.io/instance=rn",
                         "--tail=40", check=False)  # fmt: skip
    return out.stdout[-4000:] + logs.stdout + logs.stderr


def test_the_chart_pod_runs_on_the_real_node_and_answers_on_its_host_port(
    stack: Stack, real_node: rn.RealNode, installed: Installed
) -> None:
    spec = installed.pod["spec"]
    status = installed.pod["status"]
    assert isinstance(spec, dict) and isinstance(status, dict)
    assert spec["nodeName"] == real_node.name and spec["hostNetwork"] is True
    (container,) = status["containerStatuses"]
    assert container["ready"] is True and container["image"].endswith(rn.BACKEND_IMAGE)
    assert container["state"].get("running"), container
    url = f"http://127.0.0.1:{installed.port}"
    ready = requests.get(f"{url}/readyz", timeout=10)
    assert (ready.status_code, ready.text) == (200, "ok\n")
    discovery = requests.get(f"{url}/.well-known/scipian-configuration", timeout=10)
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == stack.env["STACK_IDP_ISSUER"]


def test_the_backend_uses_in_cluster_configuration_with_its_service_account(
    stack: Stack, installed: Installed
) -> None:
    """No kubeconfig in the pod: mgmt's audit log shows the backend's requests made as the
    chart's ServiceAccount (its projected token), to the address the values gave."""
    spec = installed.pod["spec"]
    assert isinstance(spec, dict)
    (container,) = spec["containers"]
    assert not any("kubeconfig" in a for a in container["args"]), container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    host, port = _mgmt_address(stack)
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == (host, str(port))
    user = f"system:serviceaccount:{installed.namespace}:{installed.service_account}"
    audit = stack.kubeconfig("mgmt").parent / "audit.log"
    seen = [
        e for e in map(json.loads, audit.read_text().splitlines()) if e["user"]["username"] == user
    ]
    assert seen, f"no request by {user} in {audit}"
    assert {e["responseStatus"]["code"] for e in seen} & {200}


def test_the_container_runs_non_root_on_a_read_only_root(installed: Installed) -> None:
    """The kubelet applied the chart's securityContext: the server process (found by its
    listening port) runs as 65532 and its root filesystem is mounted read-only."""
    pid = _listener_pid(installed.port)
    status = Path(f"/proc/{pid}/status").read_text()
    assert "Uid:\t65532\t65532\t65532\t65532" in status
    root = next(
        line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        if line.split()[4] == "/"
    )  # fmt: skip
    assert "ro" in root[5].split(","), root
    tmp = next(
        line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        if line.split()[4] == "/tmp"
    )  # fmt: skip
    assert "rw" in tmp[5].split(","), tmp  # the chart's emptyDir


def _listener_pid(port: int) -> int:
    """The process listening on 0.0.0.0:port (the pod shares the host's network)."""
    hexport = f"{port:04X}"
    inodes = {
        fields[9]
        for fields in (ln.split() for ln in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[1].endswith(f":{hexport}") and fields[3] == "0A"  # LISTEN
    }
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {
                str(Path(proc, "fd", fd).readlink()) for fd in Path(proc, "fd").iterdir() if fd.name
            }
        except OSError:
            continue
        if any(f"socket:[{i}]" in links for i in inodes):
            return int(proc.name)
    raise AssertionError(f"nothing listens on port {port}")

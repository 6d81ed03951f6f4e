"""Kubernetes clusters of the stack, each a set of harness processes.

`mgmt` holds the backend's store (Environments, broker Secrets, RBAC grants);
`dev`, `staging` and `prod` are the environments' target clusters, with KWOK
nodes so that pods run and serve logs.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.stack import procs
from tests.stack.paths import kubectl, stack_dir


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    nodes: int  # KWOK nodes; 0 means no scheduler and no KWOK


CLUSTERS = (
    ClusterSpec("mgmt", nodes=0),
    ClusterSpec("dev", nodes=2),
    ClusterSpec("staging", nodes=2),
    ClusterSpec("prod", nodes=2),
)


def cluster_dir(name: str) -> Path:
    return stack_dir() / "clusters" / name


def admin_kubeconfig(name: str) -> Path:
    return cluster_dir(name) / "admin.kubeconfig"


def start(spec: ClusterSpec, harness: Path) -> None:
    d = cluster_dir(spec.name)
    d.mkdir(parents=True, exist_ok=True)
    base = [str(harness)]
    procs.spawn(f"{spec.name}-apiserver", [*base, "apiserver", f"--dir={d}", f"--name={spec.name}"])
    procs.spawn(f"{spec.name}-controller-manager", [*base, "controller-manager", f"--dir={d}"])
    if spec.nodes:
        procs.spawn(f"{spec.name}-scheduler", [*base, "scheduler", f"--dir={d}"])
        procs.spawn(f"{spec.name}-kwok", [*base, "kwok", f"--dir={d}"])


def wait_kubeconfig(name: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not admin_kubeconfig(name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster {name}: apiserver not ready after {timeout:.0f}s")
        broken = [n for n in procs.dead() if n.startswith(f"{name}-")]
        if broken:
            raise RuntimeError(f"cluster {name}: {', '.join(broken)} exited; see {procs.log_dir()}")
        time.sleep(0.2)


def kubectl_run(
    name: str, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl()), f"--kubeconfig={admin_kubeconfig(name)}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=check,
    )


def node_manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            # Room for the 5,000-pod benchmark on two nodes.
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
        },
    }


def apply(name: str, doc: str, timeout: float = 60.0) -> None:
    """`kubectl apply`, retried: a just-ready apiserver may still refuse for a moment
    (its bootstrap controllers and CRD handlers finish after /readyz)."""
    deadline = time.monotonic() + timeout
    while True:
        out = kubectl_run(name, "apply", "-f", "-", input=doc, check=False)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cluster {name}: kubectl apply failed: {out.stderr.strip()}")
        time.sleep(0.5)


def prepare(spec: ClusterSpec, harness: Path, timeout: float = 180.0) -> None:
    """Brings a started cluster to a usable state: nodes Ready, default SA."""
    if spec.nodes:
        crd = subprocess.run(
            [str(harness), "kwok-crds"], capture_output=True, text=True, check=True
        ).stdout
        apply(spec.name, crd)
        nodes = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [node_manifest(f"kwok-node-{i}") for i in range(spec.nodes)],
        }
        apply(spec.name, json.dumps(nodes))
    deadline = time.monotonic() + timeout
    while True:
        ok = kubectl_run(spec.name, "get", "serviceaccount", "default", check=False)
        ready = True
        if spec.nodes:
            out = kubectl_run(spec.name, "get", "nodes", "-o", "json", check=False)
            ready = out.returncode == 0 and _all_nodes_ready(out.stdout, spec.nodes)
        if ok.returncode == 0 and ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster {spec.name}: nodes or default ServiceAccount not ready")
        time.sleep(0.5)


def _all_nodes_ready(doc: str, want: int) -> bool:
    items = json.loads(doc).get("items", [])
    ready = 0
    for node in items:
        for cond in node.get("status", {}).get("conditions", []):
            if cond.get("type") == "Ready" and cond.get("status") == "True":
                ready += 1
    return ready >= want

"""Other people's objects on the target clusters, so that no test can lean on an empty stack.

A shared cluster holds what the tests did not make: two CRDs of other groups that claim
the short name `wdg` too (the parity suites' Widgets use it: kubectl warns about both, and
a test that compares with kubectl holds whoever claims it), a namespace of many busy
pods, more namespaces with configmaps and pods whose labels the tests also use. The test
session installs them first (tests/e2e/conftest.py) and leaves them; installing is
idempotent, so several sessions on one stack share them.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

BUSY_NS = "foreign-busy"
# Enough to page (--chunk-size 500) and to crowd the nodes. Measured here: 300 run ~15 s after
# the apply, 1,000 ~50 s, per cluster, on every fresh stack; 300 keeps the suite fast.
BUSY_PODS = 300
OTHER_NS = ("foreign-a", "foreign-b")
FOREIGN_CRD = "wodgets.tools.example.org"
SECOND_CRD = "wadgets.warehouse.example.net"
FOREIGN_LABEL = {"scipian.io/foreign": "true"}

# Claims `wdg` like widgets.parity.scipian.io; its group sorts after that one (which keeps `wdg`).
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": FOREIGN_CRD, "labels": FOREIGN_LABEL},
    "spec": {
        "group": "tools.example.org",
        "names": {
            "plural": "wodgets",
            "singular": "wodget",
            "kind": "Wodget",
            "shortNames": ["wdg"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


# A third claimant of `wdg`, its group sorting after both.
SECOND: dict[str, Any] = {
    **CRD,
    "metadata": {"name": SECOND_CRD, "labels": FOREIGN_LABEL},
    "spec": {
        **CRD["spec"],
        "group": "warehouse.example.net",
        "names": {
            "plural": "wadgets",
            "singular": "wadget",
            "kind": "Wadget",
            "shortNames": ["wdg"],
        },
    },
}


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": FOREIGN_LABEL},
    }


def _deployment(ns: str, name: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "registry.local/busy:1"}]},
            },
        },
    }


def manifests() -> list[dict[str, Any]]:
    """Everything but the Wodgets (their type must be served first)."""
    docs: list[dict[str, Any]] = [CRD, SECOND, _namespace(BUSY_NS)]
    docs.append(_deployment(BUSY_NS, "busy", BUSY_PODS, {"app": "busy"}))
    for ns in OTHER_NS:
        docs.append(_namespace(ns))
        # labels the test suites use for their own objects: a test that selects by them
        # across namespaces sees these too
        docs.append(_deployment(ns, "web", 2, {"app": "web", "tier": "front"}))
        for team in ("a", "b"):
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"team-{team}", "namespace": ns, "labels": {"team": team}},
                    "data": {"owner": "someone else"},
                }
            )
    return docs


def wodgets() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "tools.example.org/v1",
            "kind": "Wodget",
            "metadata": {"name": f"w{i}", "namespace": ns},
            "spec": {"size": i},
        }
        for ns in OTHER_NS
        for i in range(2)
    ]


def _kubectl(
    kubectl: str, kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _apply(kubectl: str, kubeconfig: Path, docs: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    deadline = time.monotonic() + 60
    while True:
        # server-side: the Deployments' pods are made by the cluster, not sent from here
        out = _kubectl(kubectl, kubeconfig, "apply", "-f", "-", input=doc)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"foreign objects: kubectl apply failed: {out.stderr.strip()}")
        time.sleep(1)  # e.g. a new namespace's default ServiceAccount, a new CRD's type


def install(kubectl: str, kubeconfig: Path) -> None:
    """Idempotent; returns when the busy pods run and the foreign type is served."""
    _apply(kubectl, kubeconfig, manifests())
    wait = _kubectl(
        kubectl,
        kubeconfig,
        "wait",
        "--for=condition=Established",
        f"crd/{FOREIGN_CRD}",
        f"crd/{SECOND_CRD}",
    )
    if wait.returncode != 0:
        raise RuntimeError(f"foreign objects: {wait.stderr.strip()}")
    _apply(kubectl, kubeconfig, wodgets())
    for what in ["deploy/busy -n " + BUSY_NS] + [f"deploy/web -n {ns}" for ns in OTHER_NS]:
        name, _, ns = what.partition(" -n ")
        out = _kubectl(kubectl, kubeconfig, "rollout", "status", name, "-n", ns, "--timeout=300s")
        if out.returncode != 0:
            raise RuntimeError(f"foreign objects: {what}: {out.stderr.strip()}")

"""`get` through kubectl-scipian and through the real kubectl: same bytes, same exit code."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import Parity, apply, b64, view_kubeconfig
from tests.helpers import wait_for

pytestmark = pytest.mark.stack
NS = "parity-get"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.parity.scipian.io"},
    "spec": {
        "group": "parity.scipian.io",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wdg"],
            "categories": ["parity"],
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
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer"},
                                    "color": {"type": "string"},
                                    "enabled": {"type": "boolean"},
                                    "note": {"type": "string"},
                                },
                            }
                        },
                    }
                },
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
                    {"name": "Note", "type": "string", "jsonPath": ".spec.note", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }
        ],
    },
}

WIDGET_VIEW_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {
        "name": "parity-widgets-view",
        "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    },
    "rules": [
        {
            "apiGroups": ["parity.scipian.io"],
            "resources": ["widgets"],
            "verbs": ["get", "list", "watch"],
        }
    ],
}


def _objects() -> list[dict[str, Any]]:
    def meta(name: str, **labels: str) -> dict[str, Any]:
        return {"name": name, "namespace": NS, "labels": labels}

    def pod(name: str, containers: list[str], **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "containers": [{"name": c, "image": f"registry.local/{c}:1.0"} for c in containers],
            **extra.pop("spec", {}),
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**meta(name), **extra},
            "spec": spec,
        }

    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("web", app="web", tier="front"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "tier": "front"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("web", app="web"),
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("alpha", team="a"),
            "data": {"one": "1", "two": "two\nlines", "html": "<b>&</b>"},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("beta", team="b"), "data": {}},
        # Names whose bytewise order (kubectl's --sort-by) differs from natural order.
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("v10"), "data": {}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("v2"), "data": {}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("creds"),
            "data": {"password": b64("hunter2")},
        },
        pod("duo", ["main", "sidecar"]),
        pod(
            "fails",
            ["main"],
            annotations={"stack.scipian.io/fail": "3"},
            spec={"restartPolicy": "Never"},
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta("done"),
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "job", "image": "busybox"}],
                    }
                }
            },
        },
        {
            "apiVersion": "parity.scipian.io/v1",
            "kind": "Widget",
            "metadata": meta("small", size="s"),
            "spec": {"color": "red", "size": 3, "enabled": True, "note": "first\nsecond"},
        },
        {
            "apiVersion": "parity.scipian.io/v1",
            "kind": "Widget",
            "metadata": meta("large-widget-with-a-long-name", size="l"),
            "spec": {"color": "blue", "size": 12, "enabled": False},
        },
    ]


@pytest.fixture(scope="module")
def parity(dev: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parity]:
    stack = dev
    admin = stack.kubeconfig("dev")
    kubectl = stack.kubectl_path
    tmp = tmp_path_factory.mktemp("parity-get")
    kubeconfig = view_kubeconfig(admin, kubectl, tmp / "view.kubeconfig")
    apply(
        admin,
        kubectl,
        [
            CRD,
            WIDGET_VIEW_ROLE,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        ],
    )
    stack.kubectl("dev", "wait", "--for=condition=Established", "crd/widgets.parity.scipian.io")
    wait_for(
        "default ServiceAccount",
        lambda: stack.kubectl("dev", "get", "sa", "default", "-n", NS, check=False).returncode == 0,
    )
    apply(admin, kubectl, _objects())

    def settled() -> bool:
        out = stack.kubectl("dev", "get", "pods", "-n", NS, "--no-headers").stdout
        lines = out.splitlines()
        return len(lines) >= 5 and not any(s in out for s in ("Pending", "ContainerCreating"))

    wait_for("pods settled", settled)
    stack.kubectl("dev", "wait", "--for=condition=complete", "job/done", "-n", NS, "--timeout=60s")
    yield Parity(kubectl, kubeconfig, tmp / "cache")


CASES: list[tuple[str, ...]] = [
    ("pods", "-n", NS),
    ("pods", "-n", NS, "-o", "wide"),
    # every namespace, but only this module's objects (others' pods share these labels)
    ("pods", "-A", "--field-selector", f"metadata.namespace={NS}", "-l", "app=web"),
    ("pods", "-n", NS, "--show-labels"),
    ("pods", "-n", NS, "-L", "app", "-L", "tier,batch.kubernetes.io/job-name"),
    ("pods", "-n", NS, "--field-selector", "status.phase=Running"),
    ("pods", "-n", NS, "--field-selector", "status.phase=Failed", "-o", "name"),
    ("pods", "duo", "-n", NS),
    ("pod/duo", "pod/fails", "-n", NS),
    ("po", "duo", "nope", "-n", NS),
    ("pods,svc,cm", "-n", NS),
    ("all", "-n", NS),
    ("deploy,rs", "-n", NS, "-o", "wide"),
    ("deployments.apps", "-n", NS),
    ("deployments.v1.apps", "web", "-n", NS),
    ("Deployment", "web", "-n", NS, "-o", "yaml"),
    ("svc", "web", "-n", NS, "-o", "json"),
    ("cm", "-n", NS, "-o", "yaml"),
    ("cm", "-n", NS, "-o", "json"),
    ("cm", "alpha", "beta", "-n", NS, "-o", "json"),
    ("cm", "-n", NS, "-o", "name"),
    ("cm", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}"),
    ("cm", "alpha", "-n", NS, "-o", 'jsonpath={.data.one}{"\\n"}{.data.html}'),
    (
        "pods",
        "-n",
        NS,
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}',
    ),
    (
        "pods",
        "-n",
        NS,
        "-o",
        "custom-columns=NAME:.metadata.name,CONTAINERS:.spec.containers[*].name,NODE:.spec.nodeName,X:.spec.missing",
    ),
    ("cm", "-n", NS, "--sort-by=.metadata.name", "-o", "custom-columns=N:metadata.name"),
    ("pods", "-n", NS, "--sort-by=.metadata.name"),
    ("cm", "-n", NS, "--no-headers"),
    ("cm", "-n", NS, "--chunk-size=1"),
    ("cm", "-A", "--chunk-size=1", "-l", "team", "--field-selector", f"metadata.namespace={NS}"),
    ("jobs", "-n", NS),
    ("jobs", "-n", NS, "-o", "wide"),
    ("widgets", "-n", NS),
    ("widgets", "-n", NS, "-o", "wide"),
    ("wdg", "-n", NS, "--show-labels"),
    ("widget.parity.scipian.io", "small", "-n", NS, "-o", "yaml"),
    ("parity", "-n", NS),
    ("widgets", "-A", "--field-selector", f"metadata.namespace={NS}"),
    # `wdg` is claimed by another group too (tests/stack/foreign.py): kubectl's warning
    ("wdg", "-n", NS),
    ("wdg", "small", "nope", "-n", NS),
    ("wdg,widgets", "-n", NS),
    ("wdg.parity.scipian.io", "-n", NS),
    ("cm,configmaps", "-n", NS, "-o", "name"),
    ("ns", NS),
    ("ns", NS, "default", "-o", "name"),
    ("cm", "-n", "parity-nothing-here"),
    ("pods,cm", "-n", "parity-nothing-here"),
    ("pods", "-n", NS, "-l", "nothing=here"),
    ("pods", "-A", "-l", "nothing=here"),
    ("cm", "-n", "parity-nothing-here", "-o", "json"),
    ("cm", "-n", "parity-nothing-here", "-o", "name"),
    ("foo",),
    ("pods,foo", "-n", NS),
    ("pods", "nope", "-n", NS),
    ("secrets", "-n", NS),
    ("secret", "creds", "-n", NS),
    ("nodes",),
    ("pods", "duo", "-l", "a=b", "-n", NS),
    ("pods/duo", "svc", "-n", NS),
    (),
    ("pods", "-n", NS, "-o", "foo"),
    ("pods", "--bogus"),
    ("pods", "-n", NS, "--ignore-not-found", "nope"),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "<none>")
def test_get(parity: Parity, args: tuple[str, ...]) -> None:
    want, got = parity.compare("get", *args, record="get")
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc


def test_connection_refused(parity: Parity, tmp_path: Path) -> None:
    import json

    config = json.loads(parity.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "refused.kubeconfig"
    path.write_text(json.dumps(config))
    p = Parity(parity.kubectl, path, tmp_path / "cache")
    want, got = p.compare("get", "pods")
    assert (got.rc, got.out, got.err) == (want.rc, want.out, want.err)


def test_discovery_cache_refreshes_once_on_a_miss(dev: Stack, parity: Parity) -> None:
    """A type created after discovery was cached is found without waiting for the TTL."""
    stack = dev
    parity.run_plugin("get", "cm", "-n", NS)  # fills the cache
    name = "gadgets.parity.scipian.io"
    crd = json_copy(CRD)
    crd["metadata"]["name"] = name
    crd["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}
    apply(stack.kubeconfig("dev"), stack.kubectl_path, [crd])
    stack.kubectl("dev", "wait", "--for=condition=Established", f"crd/{name}")
    try:
        got = parity.run_plugin("get", "gadgets", "-n", NS)
        # view cannot list gadgets: the answer comes from the server, not from discovery
        assert "doesn't have a resource type" not in got.err
    finally:
        subprocess.run(
            [stack.kubectl_path, f"--kubeconfig={stack.kubeconfig('dev')}", "delete", "crd", name],
            capture_output=True,
            check=False,
        )


def json_copy(obj: dict[str, Any]) -> dict[str, Any]:
    import json

    result: dict[str, Any] = json.loads(json.dumps(obj))
    return result

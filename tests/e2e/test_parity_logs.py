"""`logs` through kubectl-scipian and through the real kubectl: same bytes, same exit code."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import Parity, apply, plugin_command, view_kubeconfig
from tests.helpers import wait_for
from tests.read_recordings import source_blocks
from tests.stack.podlogs import append_lines, give_logs

pytestmark = pytest.mark.stack
NS = "parity-logs"


def _pod(name: str, containers: list[str], **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": c, "image": f"registry.local/{c}:1.0"} for c in containers]
    }
    if "init" in meta:
        spec["initContainers"] = [{"name": meta.pop("init"), "image": "busybox"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, **meta},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def parity(dev: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parity]:
    stack = dev
    admin = stack.kubeconfig("dev")
    tmp = tmp_path_factory.mktemp("parity-logs")
    kubeconfig = view_kubeconfig(admin, stack.kubectl_path, tmp / "view.kubeconfig")
    apply(
        admin,
        stack.kubectl_path,
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}],
    )
    wait_for(
        "default ServiceAccount",
        lambda: stack.kubectl("dev", "get", "sa", "default", "-n", NS, check=False).returncode == 0,
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    apply(
        admin,
        stack.kubectl_path,
        [
            _pod("duo", ["main", "sidecar"], labels={"app": "duo"}),
            _pod(
                "chosen",
                ["main", "helper"],
                annotations={"kubectl.kubernetes.io/default-container": "helper"},
            ),
            _pod("boot", ["app"], init="setup"),
            _pod("solo", ["only"]),
            deployment,
        ],
    )

    def running() -> bool:
        out = stack.kubectl("dev", "get", "pods", "-n", NS, "-o", "json").stdout
        items = json.loads(out)["items"]
        return len(items) >= 6 and all(p["status"].get("phase") == "Running" for p in items)

    wait_for("pods running", running)
    give_logs(
        admin,
        NS,
        "duo",
        {"main": ["m1", "m2", "m3"], "sidecar": ["s1", "s2"]},
        previous={"main": ["old-1", "old-2"]},
    )
    give_logs(admin, NS, "chosen", {"main": ["not me"], "helper": ["helper line"]})
    give_logs(admin, NS, "boot", {"app": ["app up"], "setup": ["setting up"]})
    give_logs(admin, NS, "solo", {"only": [f"line {i}" for i in range(30)] + ["<tag> & ünïcødé"]})
    items = json.loads(
        stack.kubectl("dev", "get", "pods", "-n", NS, "-l", "app=web", "-o", "json").stdout
    )["items"]
    for i, p in enumerate(items):
        give_logs(
            admin, NS, p["metadata"]["name"], {"web": [f"web {i} line {n}" for n in range(15)]}
        )
    yield Parity(stack.kubectl_path, kubeconfig, tmp / "cache")


CASES: list[tuple[str, ...]] = [
    ("duo",),
    ("duo", "sidecar"),
    ("duo", "-c", "sidecar"),
    ("duo", "-c", "nope"),
    ("duo", "--all-containers"),
    ("duo", "--all-containers", "--prefix"),
    ("duo", "-c", "main", "--prefix"),
    ("duo", "-p", "-c", "main"),
    ("duo", "-c", "main", "--tail=2"),
    ("duo", "-c", "main", "--tail=0"),
    ("duo", "-c", "main", "--limit-bytes=4"),
    ("duo", "-c", "main", "--timestamps", "--tail=1"),
    ("duo", "-c", "main", "--since=1h"),
    ("duo", "-c", "main", "--since-time=2020-01-01T00:00:00Z"),
    ("duo", "-c", "main", "--since-time=bad"),
    ("duo", "-c", "main", "--since=5x"),
    ("chosen",),
    ("boot",),
    ("boot", "-c", "setup"),
    ("boot", "--all-containers", "--prefix"),
    ("solo",),
    ("pod/solo", "--tail=3"),
    ("pods/duo", "-c", "sidecar"),
    ("deploy/web",),
    ("deployment.apps/web", "--tail=2"),
    ("-l", "app=web"),
    ("-l", "app=web", "--prefix"),
    ("-l", "app=web", "--tail=-1"),
    ("-l", "app=duo"),
    ("-l", "app=nope"),
    ("-l", "app=web", "-f", "--max-log-requests=1"),
    ("nope",),
    ("deploy/nope",),
    ("wdg/nope",),  # a short name two groups claim: kubectl warns
    ("cm/kube-root-ca.crt",),
    ("duo", "a", "b"),
    ("duo", "-l", "a=b"),
    ("duo", "--all-containers", "-c", "main"),
    (),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "<none>")
def test_logs(parity: Parity, args: tuple[str, ...]) -> None:
    want, got = parity.compare("logs", "-n", NS, *args, ages=False, record="logs")
    assert got.err == want.err
    assert got.rc == want.rc
    if "--all-containers" in args or "-l" in args:
        # kubectl reads several sources from a Go map, so their order differs from run
        # to run; each source's lines stay whole and in order. Ours print in spec order.
        assert source_blocks(got.out) == source_blocks(want.out)
    else:
        assert got.out == want.out


def test_follow_streams_lines_as_they_are_written(dev: Stack, parity: Parity) -> None:
    files = give_logs(dev.kubeconfig("dev"), NS, "solo", {"only": ["first"]})
    proc = subprocess.Popen(
        [*plugin_command(parity.kubeconfig, parity.cache_dir), "logs", "-f", "-n", NS, "solo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"first\n"
        for n in range(3):
            append_lines(files["only"], [f"later {n}"])
            assert proc.stdout.readline() == f"later {n}\n".encode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_big_log_is_byte_identical(dev: Stack, parity: Parity, tmp_path: Path) -> None:
    line = "x" * 1000
    lines = [f"{i:08d} {line}" for i in range(20000)]
    give_logs(dev.kubeconfig("dev"), NS, "solo", {"only": lines})

    def digest(cmd: list[str]) -> str:
        with subprocess.Popen(cmd, stdout=subprocess.PIPE) as p:
            assert p.stdout is not None
            h = hashlib.sha256()
            for chunk in iter(lambda: p.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
                h.update(chunk)
        assert p.returncode == 0
        return h.hexdigest()

    want = digest([*parity.kubectl_argv(), "logs", "-n", NS, "solo"])
    got = digest([*plugin_command(parity.kubeconfig, parity.cache_dir), "logs", "-n", NS, "solo"])
    assert got == want

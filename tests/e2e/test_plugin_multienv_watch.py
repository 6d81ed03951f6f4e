"""`dev,prod get -w`: both environments' watches in one stream with an ENV column, each
environment's events exactly those kubectl sees on that cluster, in its order.

No timing decides anything: the end is each environment's DELETED of its last pod in
the plugin's stream and in kubectl's, then SIGINT (exit 1, as kubectl).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.test_plugin_access import login, make_env
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack
WAIT = 60.0
CLUSTERS = ("dev", "prod")


def _pod(name: str, ns: str, label: str) -> str:
    key, value = label.split("=")
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {key: value}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
    )


def _wait(what: str, ok: Callable[[], bool], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + WAIT
    while not ok():
        assert all(p.poll() is None for p in procs), f"a watch ended early waiting for {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


def _events(lines: list[str]) -> list[tuple[str, str]]:
    """(EVENT, NAME) of each row."""
    return [(line.split()[0], line.split()[1]) for line in lines]


def test_two_environments_in_one_watch(stack: Stack, tmp_path: Path) -> None:
    carol = login(stack, "carol", make_env(stack, tmp_path / "carol"))  # may use every env
    ns, label = f"t-mwatch-{uuid.uuid4().hex[:6]}", f"mwatch={uuid.uuid4().hex[:8]}"
    for cluster in CLUSTERS:
        stack.kubectl(cluster, "create", "namespace", ns)
        stack.kubectl(cluster, "apply", "-f", "-", input=_pod(f"seed-{cluster}", ns, label))
    args = ["get", "pods", "-n", ns, "-l", label, "-w", "--output-watch-events"]
    files = {name: tmp_path / f"{name}.out" for name in ("plugin", *CLUSTERS)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with files["plugin"].open("wb") as out:
            procs["plugin"] = subprocess.Popen(
                [str(venv_bin() / "kubectl-scipian"), "dev,prod", *args],
                stdout=out,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=dict(carol),
            )
        for cluster in CLUSTERS:
            with files[cluster].open("wb") as out:
                procs[cluster] = subprocess.Popen(
                    [stack.kubectl_path, f"--kubeconfig={stack.kubeconfig(cluster)}", *args],
                    stdout=out,
                    stdin=subprocess.DEVNULL,
                )
        running = list(procs.values())

        def text(name: str) -> str:
            return files[name].read_text()

        _wait(
            "both seeds",
            lambda: all(f"seed-{c}" in text("plugin") and f"seed-{c}" in text(c) for c in CLUSTERS),
            running,
        )
        for cluster in CLUSTERS:
            for i in range(2):
                stack.kubectl(cluster, "apply", "-f", "-", input=_pod(f"p{i}-{cluster}", ns, label))
            stack.kubectl(cluster, "label", "pod", "-n", ns, f"p0-{cluster}", "x=y")
            for i in range(2):
                stack.kubectl(cluster, "delete", "pod", "-n", ns, f"p{i}-{cluster}", "--wait=false")

        def deleted(name: str, pod: str) -> bool:
            return any(
                line.split()[:1] == ["DELETED"] and pod in line.split()
                for line in text(name).splitlines()
            )

        _wait(
            "the last deletes",
            lambda: all(
                deleted(c, f"p1-{c}")
                and any(
                    line.startswith(c) and "DELETED" in line and f"p1-{c}" in line
                    for line in text("plugin").splitlines()
                )
                for c in CLUSTERS
            ),
            running,
        )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {name: proc.wait(timeout=WAIT) for name, proc in procs.items()}
        for cluster in CLUSTERS:
            stack.kubectl(cluster, "delete", "namespace", ns, "--wait=false", check=False)
    assert codes == {"plugin": 1, "dev": 1, "prod": 1}
    stderr = procs["plugin"].stderr
    assert stderr is not None and stderr.read() == b""
    lines = text("plugin").splitlines()
    assert lines[0].split() == ["ENV", "EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert not any(line.startswith("ENV") for line in lines[1:])  # one header
    for cluster in CLUSTERS:
        ours = [line.split(None, 1)[1] for line in lines[1:] if line.split()[0] == cluster]
        theirs = text(cluster).splitlines()[1:]
        assert _events(ours) == _events(theirs)
    assert {line.split()[0] for line in lines[1:]} == set(CLUSTERS)

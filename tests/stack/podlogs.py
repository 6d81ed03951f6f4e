"""Giving a simulated pod's containers their log lines.

KWOK serves `pods/log` from files in the CRI log format. The stack enables
KWOK's `Logs` resource (kwok.x-k8s.io/v1alpha1) on the dev and prod clusters:
a `Logs` object named like the pod, in the pod's namespace, maps container
names to log files on this machine. Without one, a container's log is empty.

    path = give_logs(kubeconfig, "default", "web-0", {"web": ["hello", "world"]})
    append_lines(path, ["one more"])        # `logs -f` sees it arrive
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from tests.stack.paths import kubectl, stack_dir


def cri_line(text: str, when: datetime | None = None, stream: str = "stdout") -> str:
    """One full line in the CRI log format: `<RFC3339Nano> <stream> F <text>`."""
    ts = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{ts} {stream} F {text}\n"


def append_lines(path: Path, lines: Iterable[str], when: datetime | None = None) -> None:
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(cri_line(line, when))


def give_logs(
    kubeconfig: Path | str,
    namespace: str,
    pod: str,
    containers: Mapping[str, Iterable[str]],
    *,
    previous: Mapping[str, Iterable[str]] | None = None,
    logs_dir: Path | None = None,
    wait: bool = True,
) -> dict[str, Path]:
    """Writes each container's lines to a CRI log file and points KWOK at it.

    Returns the log file of each container (append to it to grow the log).
    With `wait`, returns once the apiserver serves the new log.
    """
    base = (logs_dir or stack_dir() / "podlogs") / namespace / pod
    base.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    entries = []
    for name, lines in containers.items():
        path = base / f"{name}.log"
        path.write_text("")
        append_lines(path, lines)
        files[name] = path
        entry: dict[str, object] = {"containers": [name], "logsFile": str(path), "follow": True}
        if previous and name in previous:
            prev = base / f"{name}.previous.log"
            prev.write_text("")
            append_lines(prev, previous[name])
            entry["previousLogsFile"] = str(prev)
        entries.append(entry)
    doc = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"logs": entries},
    }
    subprocess.run(
        [str(kubectl()), f"--kubeconfig={kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        check=True,
    )
    if wait:
        for name, path in files.items():
            if path.stat().st_size:
                _wait_served(kubeconfig, namespace, pod, name)
    return files


def _wait_served(kubeconfig: Path | str, namespace: str, pod: str, container: str) -> None:
    """KWOK learns of new Logs objects through a watch: wait until it serves them."""
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run(
            [
                str(kubectl()),
                f"--kubeconfig={kubeconfig}",
                "logs",
                "-n",
                namespace,
                pod,
                "-c",
                container,
                "--limit-bytes=1",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode == 0 and out.stdout:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"logs of {namespace}/{pod}/{container} not served: {out.stderr}")
        time.sleep(0.2)

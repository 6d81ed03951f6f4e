"""Start-up cost is mostly imports: commands that need no network must not import its stack.

Each case runs the CLI in a fresh interpreter and looks at `sys.modules` afterwards; no
timings are asserted (`make bench` reports them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from kubectl_scipian.cli import run
rc = run(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "modules": sorted(sys.modules)}, f)
"""
HEAVY = ("requests", "urllib3", "kubernetes", "yaml", "kubectl_scipian.oidc.client")
# Nothing a read uses, each a few ms to import: dataclasses (with inspect), and what the
# kubernetes/urllib3 REST layer would pull in if read/loader.py did not stub it.
LEAN = ("dataclasses", "inspect", "multiprocessing", "importlib.metadata", "zipfile", "tempfile")


def modules_after(argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> set[str]:
    out = tmp_path / "modules.json"
    if env is None:
        env = {
            **os.environ,
            "KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path / "config"),
            "SCIPIAN_BACKEND_URL": "https://backend.invalid",
        }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert doc["rc"] == 0, done.stderr
    return set(doc["modules"])


def imported(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


@pytest.mark.parametrize(
    "argv",
    [
        ["version"],
        ["-h"],
        ["dev", "-h"],
        ["login", "-h"],
        ["promote", "-h"],
        ["approve", "-h"],
        ["promotions", "-h"],
        ["cancel", "-h"],
        ["requests", "-h"],
        ["approve-request", "-h"],
        ["prod", "request", "-h"],
    ],
    ids=" ".join,
)
def test_no_network_stack_without_network(argv: list[str], tmp_path: Path) -> None:
    modules = modules_after(argv, tmp_path)
    assert [name for name in HEAVY + LEAN if imported(modules, name)] == []

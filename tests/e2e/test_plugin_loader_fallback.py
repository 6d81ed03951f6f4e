"""A `kubernetes` package laid out otherwise than the fast loader knows (read/loader.py):
the plugin reads through the normal import, prints what the real kubectl prints, and says
so under `-v`. The layout is simulated by a PYTHONPATH shim of the installed package
(tests/unit/test_perf_loader.py::incompatible_kubernetes)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import normalize_ages
from tests.e2e.test_plugin_access import kubeconfig_files, login, make_env
from tests.stack.login import run_plugin
from tests.unit.test_perf_loader import FALLBACK, incompatible_kubernetes

pytestmark = pytest.mark.stack

WHY = "AttributeError: module 'kubernetes' has no attribute '__version__'"


@pytest.fixture(scope="module")
def namespace(stack: Stack) -> Iterator[str]:
    ns = f"t-loader-{uuid.uuid4().hex[:6]}"
    stack.kubectl("dev", "create", "namespace", ns)
    stack.kubectl("dev", "create", "configmap", "loader-probe", "-n", ns, "--from-literal=a=b")
    yield ns
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


def real_kubectl(stack: Stack, env: dict[str, str], tmp_path: Path, *args: str) -> str:
    """The real kubectl's output with the credential the plugin was issued for dev."""
    [record] = [
        json.loads(p.read_text())
        for p in kubeconfig_files(env)
        if json.loads(p.read_text())["environment"] == "dev"
    ]
    kubeconfig = tmp_path / "issued.kubeconfig"
    kubeconfig.write_text(record["kubeconfig"])
    done = subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_incompatible_layout_reads_through_the_normal_import(
    stack: Stack, tmp_path: Path, namespace: str
) -> None:
    env = login(stack, "alice", make_env(stack, tmp_path / "config"))
    read = ["dev", "get", "configmaps", "-n", namespace]
    fast = run_plugin(["-v", *read], env)
    assert fast.returncode == 0, fast.stderr
    assert "fast client loader unavailable" not in fast.stderr  # the usual path

    shim = incompatible_kubernetes(tmp_path / "shim")
    paths = [str(shim), *filter(None, [env.get("PYTHONPATH")])]
    shimmed = {**env, "PYTHONPATH": os.pathsep.join(paths)}
    got = run_plugin(["-v", *read], shimmed)

    assert got.returncode == 0, got.stderr
    assert f"kubectl-scipian: debug: {FALLBACK.format(WHY)}" in got.stderr.splitlines()
    assert "Unable to connect" not in got.stderr and "Traceback" not in got.stderr
    want = real_kubectl(stack, env, tmp_path, "get", "configmaps", "-n", namespace)
    assert normalize_ages(got.stdout) == normalize_ages(want)
    assert [line.split()[0] for line in got.stdout.splitlines()] == [
        "NAME",
        "kube-root-ca.crt",
        "loader-probe",
    ]

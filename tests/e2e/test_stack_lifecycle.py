"""`scripts/stack up|down` on a second, private stack: idempotent, leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.stack.backend_daemon import replica_count
from tests.stack.paths import ROOT


def stack_cmd(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STACK_DIR=str(state))
    return subprocess.run(
        [str(ROOT / "scripts" / "stack"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def pids(state: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (state / "pids").glob("*.pid")}


def processes_mentioning(text: str) -> list[int]:
    """Every live process whose command line or environment names `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                if text.encode() in (proc / part).read_bytes():
                    found.append(int(proc.name))
                    break
            except OSError:
                continue
    return found


def test_up_is_idempotent_and_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "stack"
    first = stack_cmd(state, "up")
    try:
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip().splitlines()[-1] == "READY"
        env = (state / "env").read_text()
        for key in (
            "STACK_IDP_ISSUER=",
            "STACK_PASSWORD=",
            "STACK_MGMT_KUBECONFIG=",
            "STACK_DEV_KUBECONFIG=",
            "STACK_STAGING_KUBECONFIG=",
            "STACK_PROD_KUBECONFIG=",
            "STACK_KUBECTL=",
            "KUBECTL_SCIPIAN_CONFIG_DIR=",
        ):
            assert key in env
        assert "STACK_USERS='alice bob carol dave mallory'" in env.splitlines()
        assert oct((state / "env").stat().st_mode & 0o777) == "0o600"
        started = pids(state)
        for cluster in ("dev", "staging", "prod"):
            assert {f"{cluster}-apiserver", f"{cluster}-scheduler", f"{cluster}-kwok"} <= set(
                started
            )
        assert {"mgmt-apiserver", "idp"} <= set(started)
        # The backend as production runs it: replicas, each logged through a tee, behind
        # HAProxy (STACK_BACKEND_REPLICAS=1: one process, no balancer).
        replicas = replica_count()
        backends = (
            {"backend"}
            if replicas == 1
            else {"balancer"}
            | {f"backend-{i}" for i in range(replicas)}
            | {f"logtee-backend-{i}" for i in range(replicas)}
        )
        assert backends <= set(started)
        assert f"STACK_BACKEND_REPLICAS={replicas}" in env.splitlines()

        again = stack_cmd(state, "up")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == "READY"
        assert pids(state) == started  # reused, not restarted
        assert stack_cmd(state, "status").returncode == 0
        # Processes whose pid files were lost (an interrupted run) are still stopped.
        lost = ["idp", "dev-kwok", "staging-scheduler", "prod-apiserver"]
        for name in lost + (["balancer", "logtee-backend-0"] if replicas > 1 else []):
            (state / "pids" / f"{name}.pid").unlink()
    finally:
        down = stack_cmd(state, "down")
    assert down.returncode == 0, down.stderr
    assert processes_mentioning(str(state)) == []
    assert not (state / "env").exists()
    assert stack_cmd(state, "status").returncode == 1

"""`pip install` of the built wheel into a fresh venv gives working executables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack.paths import ROOT


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    pip = ["-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [sys.executable, *pip, "wheel", "--no-deps", "-w", str(tmp / "wheels"), str(ROOT)],
        check=True,
        env=env,
    )
    (wheel,) = (tmp / "wheels").glob("kubectl_scipian-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True, env=env)
    python = tmp / "venv" / "bin" / "python"
    constraints = str(ROOT / "constraints.txt")
    subprocess.run(
        [str(python), *pip, "install", "-c", constraints, str(wheel)], check=True, env=env
    )
    return tmp / "venv" / "bin"


def run(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir.parent)}
    return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=60)


def test_version_and_help(venv: Path) -> None:
    from kubectl_scipian import __version__

    got = run(venv, "kubectl-scipian", "version")
    assert (got.returncode, got.stdout) == (0, f"kubectl-scipian {__version__}\n"), got.stderr
    helped = run(venv, "kubectl-scipian", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: kubectl scipian")
    assert "completion bash|zsh|fish" in helped.stdout


def test_completion_executable(venv: Path) -> None:
    got = run(venv, "kubectl_complete-scipian", "completion", "b")
    assert (got.returncode, got.stdout) == (0, "bash\n:4\n"), got.stderr


def test_bad_input_is_one_line(venv: Path) -> None:
    got = run(venv, "kubectl-scipian", "dev", "frobnicate")
    assert got.returncode == 2 and got.stderr.splitlines()[-1].startswith("kubectl scipian:")

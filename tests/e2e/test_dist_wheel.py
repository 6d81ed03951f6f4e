"""Both distributions, built from this checkout, install into fresh venvs and run.

The plugin (`kubectl-scipian`, ./setup.py) and the backend (`scipian-backend`, ./backend)
are separate wheels: neither carries the other's package, and the plugin's sdist carries
no backend either. Dependencies come from the pip cache when it holds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.stack.exclusive import exclusive
from tests.stack.paths import ROOT

PIP = ["-m", "pip", "--disable-pip-version-check", "-q"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


def _build(out: Path, source: Path, *kind: str) -> None:
    args = [sys.executable, *PIP, *kind, "--no-deps", "-w", str(out), str(source)]
    with exclusive("build"):  # setuptools builds in the source tree (build/, *.egg-info)
        subprocess.run(args, check=True, env=_env())


def _venv(at: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(at)], check=True, env=_env())
    python = at / "bin" / "python"
    constraints = str(ROOT / "constraints.txt")
    subprocess.run(
        [str(python), *PIP, "install", "-c", constraints, str(wheel)], check=True, env=_env()
    )
    return at / "bin"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    _build(out, ROOT, "wheel")
    _build(out, ROOT / "backend", "wheel")
    (plugin,) = out.glob("kubectl_scipian-*.whl")
    (backend,) = out.glob("scipian_backend-*.whl")
    return {"plugin": plugin, "backend": backend}


@pytest.fixture(scope="module")
def venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("plugin") / "venv", wheels["plugin"])


@pytest.fixture(scope="module")
def backend_venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("backend") / "venv", wheels["backend"])


def _top_level(names: list[str]) -> set[str]:
    return {n.split("/")[0] for n in names if "/" in n and ".dist-info" not in n.split("/")[0]}


def test_each_wheel_holds_its_own_package_only(wheels: dict[str, Path]) -> None:
    assert wheels["plugin"].name.endswith("-py3-none-any.whl")
    assert wheels["backend"].name.endswith("-py3-none-any.whl")
    plugin = zipfile.ZipFile(wheels["plugin"]).namelist()
    backend = zipfile.ZipFile(wheels["backend"]).namelist()
    assert _top_level(plugin) == {"kubectl_scipian"}
    assert _top_level(backend) == {"scipian_backend"}
    # The backend's manifests are its package data (the admin CLI applies them).
    manifests = {n for n in backend if n.startswith("scipian_backend/manifests/")}
    assert {f"scipian_backend/manifests/{m}.yaml" for m in ("crd", "rbac")} <= manifests


def test_the_plugin_sdist_holds_no_backend(tmp_path: Path) -> None:
    # setuptools' own command; its egg-info goes to the temporary directory too.
    egg_info = ["egg_info", f"--egg-base={tmp_path}"]
    args = [sys.executable, "setup.py", "-q", *egg_info, "sdist", f"--dist-dir={tmp_path}"]
    subprocess.run(args, check=True, cwd=ROOT, env=_env(), capture_output=True)
    (sdist,) = tmp_path.glob("kubectl[-_]scipian-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    assert any("/kubectl_scipian/__init__.py" in n for n in names)
    # Neither the backend's package nor its distribution folder (the plugin's own
    # kubectl_scipian/backend/ is its HTTP client of the backend, and belongs).
    top = {n.split("/")[1] for n in names if n.count("/") >= 1}
    assert "backend" not in top
    assert not [n for n in names if "scipian_backend" in n]


def run(bin_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir.parent)}
    # Away from the checkout: `python -c` would import its packages from the current directory.
    return subprocess.run(
        list(argv), env=env, cwd=bin_dir.parent, capture_output=True, text=True, timeout=60
    )


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


def test_the_plugin_venv_has_no_backend(venv: Path) -> None:
    got = run(venv, "python", "-c", "import scipian_backend")
    assert got.returncode == 1 and "No module named 'scipian_backend'" in got.stderr


def test_the_backend_runs_from_its_own_venv(backend_venv: Path) -> None:
    helped = run(backend_venv, "python", "-m", "scipian_backend", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: python -m scipian_backend")
    assert "serve" in helped.stdout and "register" in helped.stdout
    # The server's imports (FastAPI, uvicorn, prometheus_client, PyJWT) all resolve, and
    # bad input is one line and exit 2 before anything listens.
    got = run(backend_venv, "python", "-m", "scipian_backend", "serve", "--issuer=ftp://x")
    assert got.returncode == 2, got.stderr
    assert got.stderr.splitlines() == [
        "scipian-backend: issuer must be an http(s) URL, got 'ftp://x'"
    ]
    imported = run(backend_venv, "python", "-c", "import scipian_backend.http.factory")
    assert imported.returncode == 0, imported.stderr


def test_the_backend_venv_has_no_plugin(backend_venv: Path) -> None:
    got = run(backend_venv, "python", "-c", "import kubectl_scipian")
    assert got.returncode == 1 and "No module named 'kubectl_scipian'" in got.stderr
    assert not (backend_venv / "kubectl-scipian").exists()

"""`make dist`'s outputs: reproducible, pure Python, a valid manifest, and the zipapp runs on
every Python >= 3.10 found on this machine (pyenv's, when present) with no packages."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.stack.paths import ROOT
from tests.tools import Dist, build_dist
from tools import dist as tool

PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
IMPORTS = (
    "import kubectl_scipian.cli, kubectl_scipian.wiring, kubectl_scipian.read.get, yaml, requests,"
    " platformdirs, dateutil.parser, websocket, certifi;"
    " from kubectl_scipian.read.loader import kube_rest; kube_rest();"
    " print(yaml.safe_dump({'ok': [1]}), end='')"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    return build_dist(tmp_path_factory.mktemp("dist"))


def digests(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_reproducible(built: Dist, tmp_path: Path) -> None:
    again = build_dist(tmp_path / "again")
    assert digests(again.out) == digests(built.out)


def test_archives_and_manifest(built: Dist) -> None:
    manifest = yaml.safe_load(built.manifest.read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "scipian"
    spec = manifest["spec"]
    assert spec["version"] == f"v{tool.version()}"
    assert "python3 >= 3.10" in spec["caveats"]
    assert "\n" not in spec["shortDescription"]
    seen = set()
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        name = tool.archive_name(tool.version(), labels["os"], labels["arch"])
        assert platform["uri"].endswith(f"/releases/download/v{tool.version()}/{name}")
        assert platform["sha256"] == hashlib.sha256((built.out / name).read_bytes()).hexdigest()
        assert platform["bin"] == "kubectl-scipian"
        with tarfile.open(built.out / name) as tar:
            members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [
            "LICENSE",
            "README.md",
            "kubectl-scipian",
            "kubectl_complete-scipian",
        ]
        assert members["kubectl-scipian"].mode == 0o755
    assert seen == set(tool.TARGETS)


def test_repo_manifest_is_this_release(built: Dist) -> None:
    """./plugin.yaml: the same manifest but for its sha256 values (the release's archives)."""
    repo = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    fresh = yaml.safe_load(built.manifest.read_text())
    for p in repo["spec"]["platforms"] + fresh["spec"]["platforms"]:
        assert len(p.pop("sha256")) == 64
    assert repo == fresh


def zipapp(built: Dist, tmp: Path) -> Path:
    with tarfile.open(built.archive("linux")) as tar:
        tar.extract("kubectl-scipian", tmp)
    return tmp / "kubectl-scipian"


def test_zipapp_is_pure_python(built: Dist, tmp_path: Path) -> None:
    app = zipapp(built, tmp_path)
    assert app.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(app) as z:
        names = z.namelist()
    assert "__main__.py" in names and "kubectl_scipian/cli.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc"))]
    assert not [n for n in names if n.startswith(("aiohttp/", "yarl/", "kubernetes/aio/"))]
    assert "yaml/__init__.py" in names  # pure: its C accelerator is absent (no .so above)


def pythons() -> list[Path]:
    found = [Path(sys.executable)]
    if PYENV.is_dir():
        for d in sorted(PYENV.iterdir()):
            parts = d.name.split(".")
            if len(parts) >= 2 and parts[0] == "3" and parts[1].isdigit() and int(parts[1]) >= 10:
                found.append(d / "bin" / "python3")
    return [p for p in found if p.exists()]


@pytest.mark.parametrize("python", pythons(), ids=lambda p: p.parent.parent.name)
def test_zipapp_runs_on(python: Path, built: Dist, tmp_path: Path) -> None:
    app = zipapp(built, tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    got = subprocess.run(
        [str(python), "-I", str(app), "version"], env=env, capture_output=True, text=True
    )
    assert (got.returncode, got.stdout) == (0, f"kubectl-scipian {tool.version()}\n"), got.stderr
    # -I: no site-packages, no user site, no PYTHONPATH: only the zip's own modules.
    code = f"import sys; sys.path.insert(0, {str(app)!r}); {IMPORTS}"
    got = subprocess.run([str(python), "-I", "-c", code], env=env, capture_output=True, text=True)
    assert (got.returncode, got.stdout) == (0, "ok:\n- 1\n"), got.stderr

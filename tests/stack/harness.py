"""Builds the Go cluster harness once per source hash and caches the binary.

The cache lives outside the work tree (see paths.cache_dir), so a fresh clone
on the same machine, like CI's, reuses a binary built by an earlier run.
`go_tool` does the same for any small Go module of ours (e.g. krew in tests/tools/krew).
`kubelet` builds the real node's kubelet from the harness's own module (same go.mod and
go.sum, so it shares the harness's build cache: ~75 s when the harness is cached).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.stack.paths import HARNESS_SRC, cache_dir


def source_hash(src: Path = HARNESS_SRC) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in src.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum"))
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def binary_path() -> Path:
    return cache_dir() / "harness" / source_hash() / "clusterd"


def build(verbose: bool = True) -> Path:
    """Returns the harness binary, building it when the sources changed."""
    return _build(
        binary_path(), HARNESS_SRC, ".", "the cluster harness (cold: ~4 min on 2 cores)", verbose
    )


def go_tool(src: Path, package: str, name: str, verbose: bool = True, ldflags: str = "") -> Path:
    """Binary `name` built from `package` in the Go module `src`, cached by the module's hash."""
    out = cache_dir() / "tools" / name / source_hash(src) / name
    return _build(out, src, package, name, verbose, ldflags)


def kubernetes_version(src: Path = HARNESS_SRC) -> str:
    """The k8s.io/kubernetes version the harness module requires (e.g. v1.36.3)."""
    found = re.search(
        r"^\s*k8s\.io/kubernetes (v\d+\.\d+\.\d+)\s*$", (src / "go.mod").read_text(), re.M
    )
    if not found:
        raise RuntimeError(f"no k8s.io/kubernetes requirement in {src / 'go.mod'}")
    return found.group(1)


def kubelet(verbose: bool = True) -> Path:
    """The real node's kubelet, from the harness module, reporting its true version (without
    the -X flags it says v0.0.0-master, which kubectl cannot parse)."""
    version = kubernetes_version()
    major, minor = version[1:].split(".")[:2]
    v = "k8s.io/component-base/version"
    ldflags = (
        f"-X {v}.gitVersion={version} -X {v}.gitMajor={major} -X {v}.gitMinor={minor}"
        f" -X {v}.gitTreeState=clean"
    )
    return go_tool(HARNESS_SRC, "k8s.io/kubernetes/cmd/kubelet", "kubelet", verbose, ldflags)


def _build(out: Path, src: Path, package: str, what: str, verbose: bool, ldflags: str = "") -> Path:
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One build per binary on the machine: stacks of several checkouts (or test workers)
    # starting at once would otherwise each compile the same module in full, side by side.
    with open(out.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if out.exists():
            return out
        return _go_build(out, src, package, what, verbose, ldflags)


def _go_build(
    out: Path, src: Path, package: str, what: str, verbose: bool, ldflags: str = ""
) -> Path:
    tmp = out.with_name(f"{out.name}.tmp.{os.getpid()}")
    if verbose:
        print(f"stack: building {what} into {out}", file=sys.stderr)
    started = time.monotonic()
    env = dict(os.environ, CGO_ENABLED="0")
    subprocess.run(
        ["go", "build", "-trimpath", f"-ldflags=-s -w {ldflags}".strip(), "-o", str(tmp), package],
        cwd=src,
        env=env,
        check=True,
    )
    tmp.rename(out)
    if verbose:
        print(f"stack: {out.name} built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return out

"""What the real node changes on the host, saved before the kubelet first starts and restored.

The kubelet, containerd and the bridge CNI change machine-wide state (docs/stack.md "Real
node", /work/shared/reference/real-node.md caveat 3): four sysctls, the nftables ruleset
(the kubelet's iptables chains), cgroups at the root of every hierarchy, a bridge, and
paths fixed outside the stack's directory. `save` records how they are before;
`restore` puts them back and removes what was created. Restoring is idempotent, so a
crashed run's file (left in .stack) is simply restored by the next `up` or `down`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

SYSCTLS = ("kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory", "net.ipv4.ip_forward")
# Created by the kubelet (kubepods), by containerd for containers outside pods (k8s.io).
CGROUP_NAMES = ("kubepods", "k8s.io")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# Paths the kubelet, containerd and CNI write whatever their configuration says.
FIXED_PATHS = (
    "/var/lib/kubelet",  # device-plugins (hard-coded)
    "/var/log/containers",  # the kubelet's symlinks (hard-coded)
    "/var/log/pods",
    "/var/lib/cni",  # libcni's result cache (hard-coded in containerd 1.6)
    "/run/containerd",  # shim sockets, fifos and runc state
)
MNT_DETACH = 2


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def _cgroup_candidates() -> list[str]:
    """<hierarchy>/<name> for every mounted hierarchy (cpu and cpuacct are one: by realpath)."""
    if not CGROUP_ROOT.is_dir():
        return []
    roots = sorted({str(p.resolve()) for p in CGROUP_ROOT.iterdir() if p.is_dir()})
    return [f"{root}/{name}" for root in roots for name in CGROUP_NAMES]


def _nft_ruleset() -> str | None:
    try:
        got = subprocess.run(
            ["nft", "list", "ruleset"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return got.stdout if got.returncode == 0 else None


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def snapshot(bridge: str) -> dict[str, Any]:
    return {
        "sysctls": {n: _sysctl_path(n).read_text().strip() for n in SYSCTLS},
        "nftRuleset": _nft_ruleset(),
        "cgroups": {c: Path(c).exists() for c in _cgroup_candidates()},
        "paths": {p: os.path.lexists(p) for p in FIXED_PATHS},
        "bridge": {"name": bridge, "existed": _link_exists(bridge)},
    }


def save(path: Path, bridge: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Writes the host's state to `path` (atomically) unless a saved state is there already."""
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        return saved
    state = {**snapshot(bridge), **extra}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.rename(path)
    return state


def restore(path: Path) -> list[str]:
    """Puts back what `path` recorded and removes it; the problems it could not fix, if any."""
    state = json.loads(path.read_text())
    problems: list[str] = []
    node_dir = state.get("nodeDir", "")
    # 1. Whatever still runs in the created cgroups (containers, shims reparented to init).
    created = [c for c, existed in state.get("cgroups", {}).items() if not existed]
    _kill_cgroups(created)
    if node_dir:
        _kill_cmdlines(node_dir)
    # 2. Mounts under the node's directory and the created fixed paths (deepest first).
    created_paths = [p for p, existed in state.get("paths", {}).items() if not existed]
    _unmount_under([*state.get("mountRoots", [node_dir]), *created_paths])
    # 3. The cgroups, depth first (a killed process leaves its cgroup a moment later).
    problems += _remove_cgroups(created)
    # 4. Network: the bridge, nftables, sysctls.
    bridge = state.get("bridge", {})
    if bridge.get("name") and not bridge.get("existed") and _link_exists(bridge["name"]):
        subprocess.run(["ip", "link", "del", bridge["name"]], capture_output=True, check=False)
    problems += _restore_nft(state.get("nftRuleset"))
    for name, value in state.get("sysctls", {}).items():
        try:
            _sysctl_path(name).write_text(value)
        except OSError as e:
            problems.append(f"sysctl {name}={value}: {e.strerror}")
    # 5. The fixed paths that did not exist.
    for p in created_paths:
        if os.path.lexists(p):
            subprocess.run(["rm", "-rf", "--one-file-system", p], capture_output=True, check=False)
            if os.path.lexists(p):
                problems.append(f"could not remove {p}")
    path.unlink(missing_ok=True)
    return problems


def _kill_cgroups(created: list[str]) -> None:
    for top in created:
        if not os.path.isdir(top):
            continue
        for dirpath, _, files in os.walk(top):
            if "cgroup.procs" not in files:
                continue
            with contextlib.suppress(OSError):
                for line in Path(dirpath, "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(line), signal.SIGKILL)


def _kill_cmdlines(marker: str) -> None:
    """Processes naming the node's directory (containerd's shims name its socket)."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


def _unmount_under(prefixes: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    roots = [p.rstrip("/") for p in prefixes if p]
    for _ in range(3):  # a detached mount may uncover another
        points = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split()[4].encode().decode("unicode_escape")
                if any(point == r or point.startswith(r + "/") for r in roots):
                    points.append(point)
        if not points:
            return
        for point in sorted(set(points), key=len, reverse=True):
            libc.umount2(point.encode(), MNT_DETACH)


def _remove_cgroups(created: list[str], timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = [c for c in created if os.path.isdir(c)]
    while left:
        for top in left:
            dirs = [d for d, _, _ in os.walk(top)]
            for d in sorted(dirs, key=len, reverse=True):
                with contextlib.suppress(OSError):
                    os.rmdir(d)
        left = [c for c in left if os.path.isdir(c)]
        if not left or time.monotonic() > deadline:
            break
        _kill_cgroups(left)
        time.sleep(0.2)
    return [f"cgroup {c} still in use" for c in left]


def _restore_nft(saved: str | None) -> list[str]:
    if saved is None:
        return []
    if _nft_ruleset() == saved:
        return []
    flush = subprocess.run(["nft", "flush", "ruleset"], capture_output=True, text=True, check=False)
    if flush.returncode != 0:
        return [f"nft flush ruleset: {flush.stderr.strip()}"]
    if saved.strip():
        load = subprocess.run(
            ["nft", "-f", "-"], input=saved, capture_output=True, text=True, check=False
        )
        if load.returncode != 0:
            return [f"nft -f (saved ruleset): {load.stderr.strip()}"]
    return []

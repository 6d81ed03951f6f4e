"""Background processes of the stack: started detached, tracked by pid files.

Each process runs in a session of its own so that `stop` can end it (and
anything it spawned) by process group, and so it outlives `scripts/stack up`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.stack.paths import ROOT, stack_dir


def pid_dir() -> Path:
    return stack_dir() / "pids"


def log_dir() -> Path:
    return stack_dir() / "logs"


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    pid_dir().mkdir(parents=True, exist_ok=True)
    log_dir().mkdir(parents=True, exist_ok=True)
    with open(log_dir() / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    _record(name, proc.pid)
    return proc.pid


def spawn_teed(
    name: str, argv: Sequence[str], also: str, env: Mapping[str, str] | None = None
) -> int:
    """As spawn, but the output goes through a tests/stack/logtee.py process (tracked as
    `logtee-NAME`) into `NAME.log` and, line by line, into the log `also` too (several
    processes' merged log). The tee starts first: stop_all stops it after the process, and
    it ends once the process's last line is written."""
    pid_dir().mkdir(parents=True, exist_ok=True)
    log_dir().mkdir(parents=True, exist_ok=True)
    read, write = os.pipe()
    try:
        tee = subprocess.Popen(
            [sys.executable, "-m", "tests.stack.logtee", str(log_dir() / f"{name}.log"),
             str(log_dir() / also)],
            stdin=read,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )  # fmt: skip
        _record(f"logtee-{name}", tee.pid)
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=write,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    finally:
        os.close(read)
        os.close(write)
    _record(name, proc.pid)
    return proc.pid


def _record(name: str, pid: int) -> None:
    """NAME.pid, written whole: `tracked` (another thread's wait, polling `dead`) deletes a
    file it cannot read as a pid, and a file being written is empty for a moment; that
    once lost a replica's pid, and `down` then left the replica running."""
    tmp = pid_dir() / f".{name}.pid.tmp"
    tmp.write_text(str(pid))
    tmp.rename(pid_dir() / f"{name}.pid")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as dead.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _not_zombie(pid)
    return done == 0


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def tracked() -> dict[str, int]:
    out: dict[str, int] = {}
    if not pid_dir().is_dir():
        return out
    for f in sorted(pid_dir().glob("*.pid")):
        try:
            out[f.stem] = int(f.read_text().strip())
        except (OSError, ValueError):
            f.unlink(missing_ok=True)
    return out


def dead() -> list[str]:
    return [name for name, pid in tracked().items() if not alive(pid)]


def stop(name: str, pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM the process group, then SIGKILL. True when it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)
        if not alive(pid):
            break
    (pid_dir() / f"{name}.pid").unlink(missing_ok=True)
    return not alive(pid)


def stop_all() -> list[str]:
    """Stops every tracked process; returns the names that would not die."""
    survivors = []
    # Reverse start order: clients before the servers they talk to.
    for name, pid in sorted(tracked().items(), key=lambda kv: -kv[1]):
        if not stop(name, pid):
            survivors.append(name)
    return survivors


def strays(marker: str) -> list[int]:
    """Live processes whose command line names `marker` (the state dir) but that no pid file
    tracks: left by a run that lost its pid files. Only command lines are read, never
    environments, so the shell that sourced .stack/env is not one of them."""
    mine = {os.getpid(), os.getppid()}
    tracked_pids = set(tracked().values())
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in mine | tracked_pids:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(proc.name))
    return found


def kill_strays(marker: str) -> list[int]:
    killed = []
    for pid in strays(marker):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            continue
    return killed

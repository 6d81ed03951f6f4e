"""Timing commands side by side: alternating runs, wall time and peak RSS.

Each run is a child process reaped with wait4(2), so its peak resident set
comes from the kernel, not from sampling. `kubectl scipian` execs the plugin
in place of kubectl, so the figure covers the whole command a user types.

The children are started by a small launcher process, not by the bench itself:
Linux keeps the high-water RSS of the address space a process exec()s away from,
and a vfork/posix_spawn child starts out in its parent's. Spawned from the bench
(80+ MB once it has seeded the cluster with the kubernetes client) every command
would report at least the bench's own size; from the launcher, at least ~10 MB.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Sample:
    wall_s: float
    rss_mb: float


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def peak_rss_mb(self) -> float:
        return max(s.rss_mb for s in self.samples)


# Runs in `python -S`: one JSON request per line ({"argv", "env"}), one JSON answer.
_LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    req = json.loads(line)
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(req["argv"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=req["env"])
    except OSError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        continue
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "rss_kb": usage.ru_maxrss,
        "rc": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class _Launcher:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(json.dumps({"argv": list(argv), "env": dict(env)}) + "\n")
            self.proc.stdin.flush()
            answer: dict[str, float] = json.loads(self.proc.stdout.readline())
        return answer


_launcher: _Launcher | None = None


def start_launcher() -> None:
    """Start the launcher now, while this process is still small (see the docstring)."""
    global _launcher
    if _launcher is None:
        _launcher = _Launcher()


def run_once(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Sample:
    start_launcher()
    assert _launcher is not None
    answer = _launcher.run(argv, env if env is not None else os.environ)
    if "error" in answer:
        raise RuntimeError(f"{' '.join(argv)}: {answer['error']}")
    if answer["rc"] != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {answer['rc']}")
    return Sample(wall_s=answer["wall"], rss_mb=answer["rss_kb"] / 1024)


def alternate(
    commands: Mapping[str, Sequence[str]],
    *,
    runs: int,
    warmup: int = 2,
    env: Mapping[str, str] | None = None,
    before_each: Mapping[str, Callable[[], None]] | None = None,
) -> dict[str, Series]:
    """Runs each command `runs` times, interleaved (A B A B ...), after warm-ups.

    Interleaving spreads any drift of the machine (other load, cache state)
    over both sides instead of biasing whichever ran second.
    """
    hooks = before_each or {}
    out = {name: Series() for name in commands}
    for i in range(warmup + runs):
        for name, argv in commands.items():
            if name in hooks:
                hooks[name]()
            sample = run_once(argv, env)
            if i >= warmup:
                out[name].samples.append(sample)
    return out


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")

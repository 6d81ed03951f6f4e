"""Timing commands side by side: alternating runs, wall time and peak RSS.

Each run is a child process reaped with wait4(2), so its peak resident set
comes from the kernel, not from sampling. `kubectl scipian` execs the plugin
in place of kubectl, so the figure covers the whole command a user types.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
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


def run_once(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    stdout: int | None = subprocess.DEVNULL,
) -> Sample:
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
    return Sample(wall_s=wall, rss_mb=usage.ru_maxrss / 1024)


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

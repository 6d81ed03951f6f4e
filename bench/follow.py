"""Delay from a line being written to a pod's log to it appearing under `logs -f`."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.stack.podlogs import append_lines


def follow_delay_ms(
    argv: Sequence[str], log_file: Path, env: Mapping[str, str], lines: int = 10
) -> float:
    """Median delay over `lines` appended lines, each tagged so it is recognized."""
    proc = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(env)
    )
    seen: dict[str, float] = {}
    cond = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode(errors="replace").strip()
            with cond:
                seen[text] = time.perf_counter()
                cond.notify_all()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    delays = []
    try:
        time.sleep(1.0)  # let the stream open and the existing lines pass
        for i in range(lines):
            tag = f"follow-probe-{time.time_ns()}-{i}"
            written = time.perf_counter()
            append_lines(log_file, [tag])
            with cond:
                if not cond.wait_for(lambda: tag in seen, timeout=10):  # noqa: B023
                    raise TimeoutError(f"{argv[0]}: line never arrived under -f")
                delays.append(seen[tag] - written)
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return round(statistics.median(delays) * 1000, 1)

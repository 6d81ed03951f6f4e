"""`dev,prod get -w ...`: every environment's watch at once, one stream of rows with an ENV
column first (kubectl has no such thing; each row is printed as its event arrives).

Each environment watches in its own thread, with the single-environment watch
(kubectl_scipian.read.watch) handing its rows here instead of printing them. The header
is printed once, with the first row of any environment; widths are remembered across
rows as kubectl's watch does. An environment's messages go to stderr as `<env>: <line>`.
Ctrl-C ends every watch: exit 1, as kubectl.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from kubectl_scipian.backend import issued
from kubectl_scipian.cli import error_text
from kubectl_scipian.errors import ClusterUnauthorized, ScipianError

if TYPE_CHECKING:
    from kubectl_scipian.wiring import Wiring


class MergedRows:
    """The one table every environment's rows go to, in the order they arrive."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.widths: list[int] = []
        self.header_done = False

    def rows(self, env: str, header: list[str] | None, rows: list[list[str]]) -> None:
        from kubectl_scipian.read.printers.tabwriter import format_lines

        with self.lock:
            lines: list[list[str]] = []
            if header is not None and not self.header_done:
                lines.append(["ENV", *header])
                self.header_done = True
            lines += [[env, *row] for row in rows]
            if lines:
                self.out.write(format_lines(lines, 6, 3, self.widths).encode())
                self.out.flush()


class Prefixed(io.TextIOBase):
    """stderr for one environment: each line as `<env>: <line>`."""

    def __init__(self, env: str, err: TextIO, lock: threading.Lock) -> None:
        self.env, self.err, self.lock = env, err, lock
        self.failed = False
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        with self.lock:
            for line in lines:
                if line:
                    print(f"{self.env}: {line}", file=self.err, flush=True)
        return len(text)


def watch_all(
    wired: Wiring,
    env_ids: list[str],
    argv: list[str],
    out: BinaryIO,
    err: TextIO,
    *,
    interactive: bool,
) -> int:
    from kubectl_scipian.read.watch import interruptible

    merged = MergedRows(out)
    lock = threading.Lock()
    errs = {env: Prefixed(env, err, lock) for env in env_ids}
    threads = [
        threading.Thread(
            target=_one, args=(wired, env, argv, merged, errs[env], interactive), daemon=True
        )
        for env in env_ids
    ]
    interruptible()
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)  # a bounded join: Ctrl-C reaches the main thread
    except KeyboardInterrupt:
        return 1
    return 1 if any(e.failed for e in errs.values()) else 0


def _one(
    wired: Wiring, env: str, argv: list[str], merged: MergedRows, err: Prefixed, interactive: bool
) -> None:
    from kubectl_scipian import read

    def run(kubeconfig: Mapping[str, Any], renew: Any) -> int:
        return read.run(
            "get",
            list(argv),
            kubeconfig,
            env_id=env,
            cache_dir=wired.cache.read_cache_dir(env),
            stdout=io.BytesIO(),
            stderr=err,  # type: ignore[arg-type]  # a TextIOBase, written to only
            watch_sink=lambda header, rows: merged.rows(env, header, rows),
            renew=renew,
        )

    try:
        item = wired.credentials.kubeconfig(env, interactive=interactive)

        def renew() -> Mapping[str, Any]:
            nonlocal item
            wired.credentials.drop(item)
            item = wired.credentials.kubeconfig(env, interactive=interactive)
            return issued.document(item.kubeconfig)

        try:
            status = run(issued.document(item.kubeconfig), renew)
        except ClusterUnauthorized:
            wired.credentials.drop(item)
            item = wired.credentials.kubeconfig(env, interactive=interactive)
            status = run(issued.document(item.kubeconfig), None)
        err.failed = status != 0
    except ScipianError as e:
        err.failed = True
        err.write(error_text(e) + "\n")

"""What a turn holds (Claim) and what the room runs turns for (WorkKind)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger("scipian.worker")


class Claim:
    """An execution Lease this replica holds for one object while a turn runs.

    `lost` is set when the Lease could not be renewed for `--worker-lost-after-seconds`, or
    was deleted or taken by another replica; the `on_lost` callbacks run first (the
    executor kills its helm process group there), then `lost` is set: the turn gives the
    work up. `stopping` is set when the replica shuts down: a turn ends at its next safe
    point (its claim is declared lost if it has not ended within `--worker-stop-seconds`).
    """

    def __init__(self, name: str, stopping: threading.Event | None = None) -> None:
        self.name = name
        self.lost = threading.Event()
        self.stopping = stopping if stopping is not None else threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._fired = False
        self._lock = threading.Lock()

    def on_lost(self, fn: Callable[[], None]) -> None:
        """Calls `fn` when the claim is lost (at once if it already was)."""
        with self._lock:
            if not self._fired:
                self._callbacks.append(fn)
                return
        _call(fn, self.name)

    def lose(self) -> None:
        """The callbacks, then `lost` (once; the room calls it)."""
        with self._lock:
            if self._fired:
                return
            self._fired = True
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            _call(fn, self.name)
        self.lost.set()


def _call(fn: Callable[[], None], name: str) -> None:
    try:
        fn()
    except Exception as e:  # one callback's failure must not skip the others
        log.warning("worker: an on_lost callback of %s failed (%s)", name, type(e).__name__)


class WorkKind(Protocol):
    """A cluster-scoped custom resource the room claims and works on, one turn at a time."""

    group: str
    version: str
    plural: str
    short: str  # names the Leases: scipian-exec-<short>-<object name>

    def wants(self, obj: dict[str, Any], now: datetime) -> bool:
        """Whether the object needs a turn now (pure; called on every change and wake-up)."""
        ...

    def turn(self, obj: dict[str, Any], claim: Claim) -> float | None:
        """One turn on the freshly read object; seconds until the next turn without a change
        (None: only on a change). An exception is logged and retried with backoff."""
        ...

"""The wake-up queue (pure): keys ordered by when they are due, one entry per key.

Scheduling a key that is already queued keeps the earlier time (a change event due now
overrides a turn's "in an hour"), unless `replace` asks for the new time (a failed turn's
backoff replaces the "now" that led to it). Times are whatever clock the caller uses
(monotonic seconds in the room).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WakeQueue(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = itertools.count()  # ties and stale entries never compare keys

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: K) -> bool:
        return key in self._due

    def schedule(self, key: K, at: float, replace: bool = False) -> None:
        current = self._due.get(key)
        if current is not None and current <= at and not replace:
            return
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._seq), key))

    def discard(self, key: K) -> None:
        self._due.pop(key, None)  # its heap entries are skipped as stale

    def pop_due(self, now: float) -> list[K]:
        """The keys due at `now` (earliest first), removed from the queue."""
        out: list[K] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == at:
                del self._due[key]
                out.append(key)
        return out

    def next_in(self, now: float) -> float | None:
        """Seconds until the earliest entry is due (0 when overdue), None when empty."""
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: rescheduled or discarded
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - now)


def backoff(failures: int, base: float = 1.0, most: float = 300.0) -> float:
    """Seconds before retrying after `failures` consecutive failures: base·2^(n-1), at most
    `most`."""
    if failures <= 0:
        return 0.0
    return float(min(most, base * (2 ** min(failures - 1, 30))))

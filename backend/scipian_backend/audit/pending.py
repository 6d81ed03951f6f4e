"""`scipian_pending_approvals{kind}` (change.md §11): promotion steps awaiting approval
(kind="promotion") and AccessRequests Pending (kind="request"), cluster-wide.

Counted at scrape time from one list per kind on mgmt, cached for a short while
(`serve --pending-approvals-cache-seconds`), rather than from the worker room's watch:
every replica answers /metrics, with or without a worker (`serve --no-worker`), and the
lists cost one call per kind per cache period however often /metrics (unauthenticated) is
scraped. Every replica reports the same cluster-wide numbers: aggregate with max(), not
sum(). A list that fails keeps the last known number; a kind never counted is left out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from scipian_backend.errors import ApiError

LOG = logging.getLogger("scipian.metrics")
NAME = "scipian_pending_approvals"
HELP = (
    "Approvals awaited, cluster-wide: promotion steps AwaitingApproval (kind=promotion), "
    "AccessRequests Pending (kind=request). Every replica reports the same numbers."
)

TERMINAL_PROMOTION = ("Succeeded", "Failed", "Cancelled")


def awaiting_promotion_steps(items: Iterable[Mapping[str, Any]]) -> int:
    """Steps AwaitingApproval in unfinished promotions (pure)."""
    count = 0
    for promo in items:
        status = promo.get("status") or {}
        if not isinstance(status, dict) or status.get("phase") in TERMINAL_PROMOTION:
            continue
        steps = status.get("steps") or []
        count += sum(
            1 for s in steps if isinstance(s, dict) and s.get("phase") == "AwaitingApproval"
        )
    return count


def pending_requests(items: Iterable[Mapping[str, Any]]) -> int:
    """AccessRequests in phase Pending, not being deleted (pure)."""
    return sum(
        1
        for obj in items
        if isinstance(obj.get("status"), dict)
        and obj["status"].get("phase") == "Pending"
        and not (obj.get("metadata") or {}).get("deletionTimestamp")
    )


class PendingApprovals(Collector):
    def __init__(
        self,
        sources: Mapping[str, Callable[[], int]],
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = dict(sources)
        self._ttl = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()  # one refresh at a time; others wait for its numbers
        self._counts: dict[str, int] = {}
        self._at: float | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(NAME, HELP, labels=["kind"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, HELP, labels=["kind"])
        for kind, count in sorted(self.counts().items()):
            family.add_metric([kind], count)
        yield family

    def counts(self) -> dict[str, int]:
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self._ttl:
                self._at = now
                for kind, count in self._sources.items():
                    try:
                        self._counts[kind] = count()
                    except (ApiError, OSError, ValueError) as e:
                        LOG.warning("%s{kind=%s} not counted: %s", NAME, kind, e)
            return dict(self._counts)

"""A short-lived cache of per-environment lookups (Environment + its target client).

Every issuance used to read the Environment and then its broker Secret from mgmt: two
round trips in series, longer than the SubjectAccessReview they ran beside, so they set
the request's latency. They change only when an admin registers, re-registers or deletes
an environment, so a found (Environment, client) pair is reused for `ttl` seconds.

What this does NOT cache: authorization (every request still asks a fresh
SubjectAccessReview), absence (an unknown environment is looked up every time, so a new
registration is visible at once), and failures. An entry is dropped as soon as an
issuance with it fails, so a rotated broker credential is re-read on the next request.
Staleness bound: a deleted or re-registered Environment may be served from here for at
most `ttl` seconds, to callers that RBAC allows for it (docs/backend.md); with the
Environment cache (cache.py) an entry goes as soon as its Environment's watch event (or a
re-list) arrives. Deploy-level issuance takes only the client from here, never the
Environment (usecases.py reads it fresh).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    """key → value for `ttl` seconds after it was stored; ttl <= 0 disables it."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        if self._ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() - entry[0] >= self._ttl:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, value: V) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock(), value)

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

"""Per-user rate limits: token buckets per identity, kept in this process.

Every issuance creates a session Secret on the target and a SubjectAccessReview on mgmt, so
one user's runaway script must not be able to flood either. Each user (the prefixed
username RBAC sees, e.g. ``oidc:alice@example.test``) has a bucket of ``burst`` tokens that
refills at ``tokens / period``; an issuance takes one, and an empty bucket answers
``429 TooManyRequests`` with ``Retry-After`` (whole seconds until one token is back).

The check runs after authentication (it needs the identity) and before authorization, so
a throttled request costs no cluster call. Buckets live in the replica's memory: with N
replicas behind a Service each enforces its own share, so a user may get up to N times
the rate. Unauthenticated requests have no identity to key on; limit those per client
address in front of the backend (the Ingress).

Every authenticated route takes a token from one of three buckets (change.md §11): issuance
(``--rate-limit``, 600/min, burst 100), reads and listings (``--read-rate-limit``, 1,200/min:
the environment list, release reads, promotion reads), and everything else a user posts
(``--write-rate-limit``: rollback records and the promotion routes, each an audit line,
often an Event, and several cluster calls). A user flooding one bucket keeps the others.

Syntax: ``TOKENS/PERIOD`` with PERIOD ``N`` seconds, ``Ns``, ``Nm``, ``Nh`` (``30/60s``,
``600/1m``), or ``0`` to disable; each ``...-burst`` flag is the bucket size.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scipian_backend.errors import ApiError, ConfigError

DEFAULT_RATE = "600/60s"  # generous: bounds a runaway loop at 10/s, never a person or CI
DEFAULT_BURST = 100  # change.md §11
DEFAULT_READ_RATE = "1200/60s"  # change.md §11: reads and listings
DEFAULT_READ_BURST = 200
# Rollback records and the promotion routes: change.md names no number; a promotion's
# client polls verify about once a second, so 2/s with a burst of 30 never slows one.
DEFAULT_WRITE_RATE = "120/60s"
DEFAULT_WRITE_BURST = 30
ISSUE, READ, WRITE = "issue", "read", "write"  # the buckets
MAX_BUCKETS = 100_000  # full buckets are dropped first; then the oldest
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
log = logging.getLogger("scipian.ratelimit")


class TooManyRequests(ApiError, status=429):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Rate:
    tokens: int  # refilled per period
    period: float  # seconds
    burst: int  # bucket size

    @property
    def per_second(self) -> float:
        return self.tokens / self.period


def parse_rate(
    text: str, burst: int | None = None, flag: str = "--rate-limit", most: int | None = None
) -> Rate | None:
    """``"30/60s"`` → Rate(30, 60, burst or min(30, most)); ``"0"`` → None (disabled)."""
    if text.strip() in ("0", "off", ""):
        return None
    m = _RATE.match(text)
    if not m:
        raise ConfigError(f"{flag} {text!r}: expected TOKENS/PERIOD like 30/60s, or 0")
    tokens = int(m.group(1))
    period = float(m.group(2) or 1) * _UNITS[m.group(3)]
    if tokens <= 0 or period <= 0:
        raise ConfigError(f"{flag} {text!r}: tokens and period must be positive")
    size = (tokens if most is None else min(tokens, most)) if burst is None else burst
    if size < 1:
        raise ConfigError(f"{flag}-burst must be at least 1")
    return Rate(tokens, period, size)


@dataclass
class _Bucket:
    level: float
    at: float


class RateLimiter:
    """Token buckets by key; thread-safe (the issuance route runs in a thread pool)."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_limited: Callable[[str], None] | None = None,
        max_buckets: int = MAX_BUCKETS,
        what: str = "credential requests",
    ) -> None:
        self.rate = rate
        self.what = what  # the 429's words: "too many {what}"
        self._clock = clock
        self._on_limited = on_limited
        self._max = max_buckets
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, key: str) -> None:
        """Takes one token for ``key`` or raises TooManyRequests."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max:
                    self._prune(now)
                bucket = self._buckets[key] = _Bucket(float(self.rate.burst), now)
            else:
                elapsed = max(now - bucket.at, 0.0)
                bucket.level = min(
                    float(self.rate.burst), bucket.level + elapsed * self.rate.per_second
                )
                bucket.at = now
            if bucket.level >= 1.0:
                bucket.level -= 1.0
                return
            wait = (1.0 - bucket.level) / self.rate.per_second
        if self._on_limited is not None:
            self._on_limited(key)
        raise TooManyRequests(
            f"too many {self.what}; retry in {math.ceil(wait)}s",
            retry_after=max(1, math.ceil(wait)),
        )

    def _prune(self, now: float) -> None:
        """Drops buckets that have refilled (forgetting them changes nothing), else the
        least recently used half."""
        full = [
            k
            for k, b in self._buckets.items()
            if b.level + (now - b.at) * self.rate.per_second >= self.rate.burst
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self._max:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)
            for k in oldest[: len(oldest) // 2 + 1]:
                del self._buckets[k]


def limited_counter(
    metrics: object, interval: float = 1.0, bucket: str = ISSUE
) -> Callable[[str], None]:
    """The callback for rejections: a metric every time, a log line at most once per
    ``interval`` per user (a throttled flood must not become a log flood)."""
    last: dict[str, float] = {}
    lock = threading.Lock()

    def on_limited(key: str) -> None:
        denial = getattr(metrics, "denial", None)
        if callable(denial):
            denial("rate_limited")
        now = time.monotonic()
        with lock:
            if now - last.get(key, -math.inf) < interval:
                return
            last[key] = now
            if len(last) > MAX_BUCKETS:
                last.clear()
        log.warning("rate limited %s for %s", "issuance" if bucket == ISSUE else bucket, key)

    return on_limited


def route_limiters(
    metrics: object,
    read: tuple[str, int | None] = (DEFAULT_READ_RATE, None),
    write: tuple[str, int | None] = (DEFAULT_WRITE_RATE, None),
) -> dict[str, RateLimiter]:
    """The read and write buckets (``--read-rate-limit``, ``--write-rate-limit``; a burst
    of None: the default, at most the token count); a disabled one is left out."""
    out: dict[str, RateLimiter] = {}
    for bucket, (text, burst), most in (
        (READ, read, DEFAULT_READ_BURST),
        (WRITE, write, DEFAULT_WRITE_BURST),
    ):
        rate = parse_rate(text, burst, f"--{bucket}-rate-limit", most)
        if rate is not None:
            out[bucket] = RateLimiter(
                rate, on_limited=limited_counter(metrics, bucket=bucket), what="requests"
            )
    return out

"""Human expiry times: an RFC 3339 timestamp and how long is left."""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 86400}d"


def until(expires_at: float, now: float) -> str:
    left = expires_at - now
    if left <= 0:
        return f"expired at {rfc3339(expires_at)}"
    return f"valid until {rfc3339(expires_at)}, {duration(left)} left"

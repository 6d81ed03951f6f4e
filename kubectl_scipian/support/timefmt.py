"""Time formats: RFC 3339 timestamps both ways, and how long is left in human words."""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: object) -> float:
    """RFC 3339 (`...Z` or an offset) to epoch seconds; Python 3.10 does not parse `Z`."""
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


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

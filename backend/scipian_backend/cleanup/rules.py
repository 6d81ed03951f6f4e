"""What a cleanup pass removes, given the objects and a clock (pure functions).

Never removed: a session Secret not yet expired (or without a readable expiry); an
identity issued within the idle time, or one of a Promotion not finished or of an
AccessRequest whose window is open; an unfinished Promotion or AccessRequest; anything
not labelled scipian.io/managed=true (the listings select on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from scipian_backend.identity import names

PROMOTION_SOURCE = "promotion:"
PROMOTION_TERMINAL = ("Succeeded", "Failed", "Cancelled")
REQUEST_TERMINAL = ("Denied", "Expired", "Ended", "Cancelled", "Revoked")
MANAGED_SELECTOR = f"{names.SCIPIAN_MANAGED}=true"
BACKEND_COMPONENT = "scipian-backend"  # source.component of the backend's Events

KINDS = ("sessionSecrets", "serviceAccounts", "bindings", "promotions", "accessRequests", "events")


@dataclass
class Counts:
    """What one pass removed (the CLI prints it as JSON; the metric counts `removed`)."""

    removed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    targets: int = 0
    failed_targets: int = 0

    def add(self, kind: str, n: int = 1) -> None:
        self.removed[kind] += n

    def merge(self, other: Counts) -> None:
        for kind, n in other.removed.items():
            self.removed[kind] += n
        self.targets += other.targets
        self.failed_targets += other.failed_targets

    def as_json(self) -> dict[str, int]:
        return {**self.removed, "targets": self.targets, "failedTargets": self.failed_targets}

    def line(self) -> str:
        parts = [f"{k} {v}" for k, v in self.as_json().items()]
        return "cleanup: removed " + ", ".join(parts)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 stamp as the API writes it (seconds, `Z`; fractions tolerated)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse_day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


# --- on targets -----------------------------------------------------------------------------


def session_expired(annotations: dict[str, str] | None, now: datetime) -> bool:
    """A session Secret whose expiry annotation is in the past (its token is dead)."""
    when = parse_time((annotations or {}).get(names.EXPIRES_ANNOTATION))
    return when is not None and when < now


def identity_idle(
    annotations: dict[str, str] | None, created: object, now: datetime, idle_days: int
) -> bool:
    """Last issued more than idle_days whole days before now's day (the annotation is
    written at most once a day); without it, the ServiceAccount's creation day counts."""
    day = parse_day((annotations or {}).get(names.LAST_ISSUED_DAY_ANNOTATION))
    if day is None:
        made = parse_time(created)
        day = made.date() if made is not None else None
    if day is None:
        return False
    return (now.astimezone(timezone.utc).date() - day).days > idle_days


def protected(source: str, busy_promotions: frozenset[str], open_requests: frozenset[str]) -> bool:
    """An identity of a Promotion not finished, or of an Approved request in its window."""
    if source.startswith(PROMOTION_SOURCE):
        return source[len(PROMOTION_SOURCE) :].split(":", 1)[0] in busy_promotions
    request = names.request_of(source)
    return bool(request) and request in open_requests


def binding_removable(
    identity: str,
    created: object,
    removed: set[str],
    existing: set[str],
    now: datetime,
    grace_seconds: float,
) -> bool:
    """A managed binding of an identity removed in this pass, or whose ServiceAccount is
    gone, then never one younger than the grace (its ServiceAccount may be being created
    after this pass listed the ServiceAccounts)."""
    if not identity:
        return False
    if identity in removed:
        return True
    if identity in existing:
        return False
    made = parse_time(created)
    return made is not None and now - made >= timedelta(seconds=grace_seconds)


# --- on mgmt --------------------------------------------------------------------------------


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def promotion_finished_at(obj: dict[str, Any]) -> datetime | None:
    """A finished Promotion's last phase change (None: not finished)."""
    status = _status(obj)
    if status.get("phase") not in PROMOTION_TERMINAL:
        return None
    return parse_time(status.get("lastTransition")) or parse_time(
        (obj.get("metadata") or {}).get("creationTimestamp")
    )


def request_finished_at(obj: dict[str, Any]) -> datetime | None:
    """A finished AccessRequest's last phase change (None: not finished)."""
    status = _status(obj)
    if status.get("phase") not in REQUEST_TERMINAL:
        return None
    for key in ("lastTransition", "endedAt"):
        when = parse_time(status.get(key))
        if when is not None:
            return when
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp"))


def expired_record(finished_at: datetime | None, now: datetime, retention_days: int) -> bool:
    return finished_at is not None and now - finished_at > timedelta(days=retention_days)


def busy_promotions(promotions: Iterable[dict[str, Any]]) -> frozenset[str]:
    """Names of the Promotions not finished (their step identities are kept)."""
    return frozenset(_name(p) for p in promotions if promotion_finished_at(p) is None)


def open_requests(requests: Iterable[dict[str, Any]], now: datetime) -> frozenset[str]:
    """Names of the Approved AccessRequests whose window has not ended."""
    found = set()
    for obj in requests:
        status = _status(obj)
        end = parse_time(status.get("expiresAt"))
        if status.get("phase") == "Approved" and (end is None or end > now):
            found.add(_name(obj))
    return frozenset(found)


def event_time(event: dict[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time(event.get(key))
        if when is not None:
            return when
    return parse_time((event.get("metadata") or {}).get("creationTimestamp"))


def events_to_delete(
    events: Iterable[dict[str, Any]], now: datetime, retention_days: int, per_object: int
) -> list[dict[str, Any]]:
    """The backend's Events older than the retention, and beyond the newest `per_object`
    of each involved object."""
    series: dict[tuple[str, str, str], list[tuple[datetime, dict[str, Any]]]] = {}
    oldest = now - timedelta(days=retention_days)
    out = []
    for ev in events:
        when = event_time(ev) or now
        if when < oldest:
            out.append(ev)
            continue
        inv = ev.get("involvedObject") or {}
        key = (str(inv.get("kind", "")), str(inv.get("namespace", "")), str(inv.get("name", "")))
        series.setdefault(key, []).append((when, ev))
    for items in series.values():
        if len(items) > per_object:
            items.sort(key=lambda t: (t[0], _name(t[1])), reverse=True)
            out.extend(ev for _, ev in items[per_object:])
    return out

"""The break-glass entries kept in an Environment's `status.breakGlass` (pure).

An entry: `{"id", "user", "time", "reason", "requestId"}` plus, once acknowledged,
`"acknowledgement": {"user", "time", "justification"}`. Events expire after an hour;
these entries do not, so the list is bounded: past the limit the oldest acknowledged
entry goes first, and an unacknowledged one only when every entry is unacknowledged
(the audit lines keep each of them either way).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from scipian_backend.config import GROUP, KIND, VERSION

ID = re.compile(r"^[0-9a-f]{16}$")
ID_MESSAGE = "break-glass id must be 16 lowercase hexadecimal characters"


def new_id() -> str:
    return secrets.token_hex(8)


def new_entry(entry_id: str, user: str, reason: str, request_id: str, now: str) -> dict[str, Any]:
    return {"id": entry_id, "user": user, "time": now, "reason": reason, "requestId": request_id}


def entries_of(env_obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of an Environment object as read (anything malformed left out)."""
    status = env_obj.get("status")
    found = status.get("breakGlass") if isinstance(status, dict) else None
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, dict) and isinstance(e.get("id"), str)]


def appended(
    entries: list[dict[str, Any]], entry: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """`entries` plus `entry`, at most `limit` long (oldest acknowledged dropped first)."""
    out = [*entries, entry]
    while len(out) > limit:
        done = next((i for i, e in enumerate(out) if e.get("acknowledgement")), None)
        out.pop(done if done is not None else 0)
    return out


def find(entries: list[dict[str, Any]], entry_id: str) -> dict[str, Any] | None:
    return next((e for e in entries if e.get("id") == entry_id), None)


def pending(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unacknowledged entries, newest first."""
    return sorted(
        (e for e in entries if not e.get("acknowledgement")),
        key=lambda e: str(e.get("time") or ""),
        reverse=True,
    )


def acknowledge_problem(
    entry: dict[str, Any] | None, env_id: str, entry_id: str, user: str
) -> tuple[str, str] | None:
    """(kind, message) when `user` may not acknowledge the entry now: not_found, forbidden
    (the one who broke the glass) or conflict (already acknowledged); None when they may."""
    if entry is None:
        return "not_found", f"environment {env_id} has no break-glass {entry_id}"
    if entry.get("user") == user:
        return (
            "forbidden",
            f"{user} broke the glass {entry_id} on {env_id}: someone else acknowledges it",
        )
    ack = entry.get("acknowledgement")
    if isinstance(ack, dict):
        return "conflict", (
            f"break-glass {entry_id} on {env_id} was acknowledged by {ack.get('user')} "
            f"at {ack.get('time')}"
        )
    return None


def with_acknowledgement(
    entries: list[dict[str, Any]], entry_id: str, user: str, justification: str, now: str
) -> list[dict[str, Any]]:
    ack = {"user": user, "time": now, "justification": justification}
    return [dict(e, acknowledgement=ack) if e.get("id") == entry_id else e for e in entries]


def event(
    env_id: str, env_uid: str, reason: str, kind: str, message: str, now: str
) -> dict[str, Any]:
    """An Event of its own on the Environment (never aggregated)."""
    return {
        "metadata": {"name": f"{env_id}.{secrets.token_hex(8)}"},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": env_id,
            "uid": env_uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "scipian-backend"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def broken_message(env_id: str, entry: dict[str, Any]) -> str:
    return (
        f"{entry['user']} broke the promotion gate of {env_id}: a deploy credential outside a "
        f"promotion, break-glass {entry['id']}, justification {entry['reason']!r} "
        f"(request {entry['requestId']}); unacknowledged"
    )


def acknowledged_message(env_id: str, entry: dict[str, Any], user: str, justification: str) -> str:
    return (
        f"{user} acknowledged break-glass {entry['id']} of {entry.get('user')} on {env_id}, "
        f"justification {justification!r}"
    )


def answer(env_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the API shows it."""
    out = {
        "environment": env_id,
        "id": entry.get("id", ""),
        "user": entry.get("user", ""),
        "time": entry.get("time", ""),
        "reason": entry.get("reason", ""),
        "acknowledgement": entry.get("acknowledgement"),
    }
    return out

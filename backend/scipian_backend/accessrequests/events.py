"""The audit line and the Event of one state change of an access request (pure)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from scipian_backend.accessrequests import records as r
from scipian_backend.audit.records import Record
from scipian_backend.identity.authn import Identity


def change_record(
    obj: dict[str, Any], change: r.Change, who: Identity | None, request_id: str, why: str
) -> Record:
    """`why`: the justification of the act (the request's own at creation)."""
    return Record(
        event="access_request",
        request_id=request_id,
        outcome=change.outcome,
        environment=r.environment(obj) or None,
        user=who.username if who else None,
        groups=who.groups if who else (),
        reason=str(r.status_of(obj).get("message") or ""),
        level=r.level(obj) or "read",
        justification=why,
        auth_time=who.auth_time if who else None,
        access_request={
            "name": r.name_of(obj),
            "level": r.level(obj),
            "requester": r.requester(obj),
            "from": change.old or None,
            "to": change.new,
        },
    )


def change_event(
    obj: dict[str, Any], change: r.Change, who: Identity | None, request_id: str, now: datetime
) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    name = r.name_of(obj)
    by = f" by {who.username}" if who else ""
    if change.outcome == "approval":
        given = len(r.approvals(obj))
        what = f"approved{by} ({given} of {r.status_of(obj).get('approvalsRequired')})"
        reason = "AccessRequestApproval"
    else:
        what = f"{change.old or '(new)'} -> {change.new}{by}"
        reason = f"AccessRequest{change.new}"
    stamp = r.now_stamp(now)
    return {
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}"},
        "involvedObject": {
            "apiVersion": r.API_VERSION,
            "kind": r.KIND,
            "name": name,
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": (
            f"{r.level(obj)} access to {r.environment(obj)} for {r.requester(obj)}: {what} "
            f"(request {request_id})"
        )[:1024],
        "type": "Warning" if change.new in (r.REVOKED, r.DENIED) else "Normal",
        "source": {"component": "scipian-backend"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }

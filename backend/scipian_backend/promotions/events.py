"""The audit line and the Event of one phase change of a promotion (pure)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from scipian_backend.audit.records import Record
from scipian_backend.identity.authn import Identity
from scipian_backend.promotions.records import (
    API_VERSION,
    AWAITING,
    FAILED,
    KIND,
    SUCCEEDED,
    TERMINAL,
    Change,
    initiator,
    now_stamp,
    steps_of,
)


def change_record(
    promo: dict[str, Any], change: Change, who: Identity | None, request_id: str
) -> Record:
    spec = promo.get("spec") or {}
    return Record(
        event="promotion",
        request_id=request_id,
        outcome=change.new,
        environment=change.environment or None,
        user=who.username if who else None,
        groups=who.groups if who else (),
        reason=change.message,
        level="deploy",
        justification=str(spec.get("justification") or ""),
        auth_time=who.auth_time if who else None,
        promotion={
            "name": promo.get("metadata", {}).get("name"),
            "release": f"{spec.get('namespace')}/{spec.get('release')}",
            "version": (spec.get("chart") or {}).get("version"),
            "step": change.environment or None,
            "from": change.old or None,
            "to": change.new,
        },
    )


def change_event(
    promo: dict[str, Any], change: Change, who: Identity | None, request_id: str, now: datetime
) -> dict[str, Any]:
    meta = promo.get("metadata") or {}
    name = str(meta.get("name") or "")
    subject = f"step {change.environment}" if change.environment else "promotion"
    reason = ("Step" if change.environment else "Promotion") + change.new
    by = f" by {who.username}" if who else ""
    why = f": {change.message}" if change.message else ""
    stamp = now_stamp(now)
    return {
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}"},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": name,
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": (
            f"{subject} {change.old or '(new)'} -> {change.new}{by}{why} (request {request_id})"
        )[:1024],
        "type": "Warning" if change.new == FAILED else "Normal",
        "source": {"component": "scipian-backend"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def notification(
    promo: dict[str, Any], change: Change, who: Identity | None
) -> tuple[str, dict[str, Any]] | None:
    """The notification (audit/notify.py) one phase change makes, if any: a step now
    awaiting approval, or the promotion's outcome. Never its message: a failure's may quote
    helm's output."""
    spec = promo.get("spec") or {}
    steps = steps_of(promo)
    fields: dict[str, Any] = {
        "name": str((promo.get("metadata") or {}).get("name") or ""),
        "requester": initiator(promo),
        "justification": str(spec.get("justification") or ""),
    }
    if who is not None:
        fields["user"] = who.username
    if change.environment and change.new == AWAITING:
        step = next((s for s in steps if s.get("environment") == change.environment), {})
        fields.update(
            environment=change.environment,
            approvals=len(step.get("approvals") or []),
            approvals_required=int(step.get("approvalsRequired") or 0),
        )
        return "promotion.awaiting_approval", fields
    if not change.environment and change.new in TERMINAL:
        # The environment the chain ended on: the first step not Succeeded, else the last.
        open_steps = [s for s in steps if s.get("phase") != SUCCEEDED]
        last = open_steps[0] if open_steps else (steps[-1] if steps else {})
        fields.update(environment=str(last.get("environment") or ""), phase=change.new)
        return f"promotion.{change.new.lower()}", fields
    return None

"""The AccessRequest object (docs/api.md, "Access requests"; change.md §9): names, phases,
pure transitions, who sees what, and the caps' counting.

An AccessRequest is a plain dict, as the management cluster stores it. Every transition
takes the object and returns a new status (or raises Refused); the service writes it with
optimistic concurrency (store.py). By the single-writer rule the service writes the
creation, approvals and denials (Pending -> Approved | Denied), cancel and revoke; the
worker (K, worker.py) writes Pending -> Expired and Approved -> Ended.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from scipian_backend.identity.names import USER_HASH_LABEL, user_hash
from scipian_backend.kube import parse_stamp as parse_stamp
from scipian_backend.kube import stamp

now_stamp = stamp  # the name these records' callers use

GROUP = "scipian.io"
VERSION = "v1alpha1"
PLURAL = "accessrequests"
KIND = "AccessRequest"
API_VERSION = f"{GROUP}/{VERSION}"
RESOURCE = f"{PLURAL}.{GROUP}"
FINALIZER = "scipian.io/access-request"  # added at creation; the worker removes it
ENVIRONMENT_LABEL = "scipian.io/environment"
LEVEL_LABEL = "scipian.io/level"

PENDING, APPROVED, DENIED, EXPIRED = "Pending", "Approved", "Denied", "Expired"
ENDED, CANCELLED, REVOKED = "Ended", "Cancelled", "Revoked"
PHASES = (PENDING, APPROVED, DENIED, EXPIRED, ENDED, CANCELLED, REVOKED)
TERMINAL = (DENIED, EXPIRED, ENDED, CANCELLED, REVOKED)
LEVELS = ("read", "deploy")
MIN_DURATION = 60
MAX_APPROVALS = 10  # the Environment CRD's deploy.approvals.required maximum
MESSAGE_MAX = 1024
SUFFIX = string.ascii_lowercase + string.digits
ENV_PART = 40  # characters of the environment id in a name: the name fits a label value


class Refused(Exception):
    """A transition the object's state does not allow: `kind` "conflict" (409) or
    "forbidden" (403), and a message for the caller."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def new_name(env_id: str, level: str) -> str:
    """`<env[:40]>-<level>-<5 random [a-z0-9]>`: at most 53 characters, also a label value."""
    head = env_id[:ENV_PART].rstrip("-")
    return f"{head}-{level}-" + "".join(secrets.choice(SUFFIX) for _ in range(5))


def new_request(
    name: str,
    env_id: str,
    level: str,
    namespaces: Iterable[str],
    duration: int,
    justification: str,
    user: str,
    groups: Iterable[str],
) -> dict[str, Any]:
    """The object as created (without status: the status subresource ignores it)."""
    spec: dict[str, Any] = {
        "environment": env_id,
        "level": level,
        "durationSeconds": duration,
        "justification": justification,
        "requester": {"user": user, "groups": list(groups)},
    }
    if level == "deploy":
        spec["namespaces"] = sorted(set(namespaces))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": {
                ENVIRONMENT_LABEL: env_id,
                LEVEL_LABEL: level,
                USER_HASH_LABEL: user_hash(user),
            },
            "finalizers": [FINALIZER],
        },
        "spec": spec,
    }


def initial_status(required: int, now: datetime, pending_seconds: int) -> dict[str, Any]:
    """Pending, expiring undecided after `pending_seconds`."""
    stamp = now_stamp(now)
    return {
        "phase": PENDING,
        "approvalsRequired": min(max(1, required), MAX_APPROVALS),
        "approvals": [],
        "expiresAt": now_stamp(now + timedelta(seconds=pending_seconds)),
        "lastTransition": stamp,
        "message": "",
    }


# --- reading ----------------------------------------------------------------------------


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def phase(obj: dict[str, Any]) -> str:
    return str(status_of(obj).get("phase") or "")


def finished(obj: dict[str, Any]) -> bool:
    return phase(obj) in TERMINAL


def deleting(obj: dict[str, Any]) -> bool:
    """Its deletion has begun (the worker revokes its sessions, then lets it go)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def user_selector(user: str) -> str:
    """The label selector of `user`'s requests (their hash: a username is no label value)."""
    return f"{USER_HASH_LABEL}={user_hash(user)}"


def environment(obj: dict[str, Any]) -> str:
    return str(spec_of(obj).get("environment") or "")


def level(obj: dict[str, Any]) -> str:
    return str(spec_of(obj).get("level") or "")


def requester(obj: dict[str, Any]) -> str:
    who = spec_of(obj).get("requester")
    return str(who.get("user") or "") if isinstance(who, dict) else ""


def approvals(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found = status_of(obj).get("approvals")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def created_at(obj: dict[str, Any]) -> datetime | None:
    return parse_stamp((obj.get("metadata") or {}).get("creationTimestamp"))


def window_end(obj: dict[str, Any]) -> datetime | None:
    """An Approved request's window end (status.expiresAt), else None."""
    return parse_stamp(status_of(obj).get("expiresAt")) if phase(obj) == APPROVED else None


# --- transitions (pure: the object in, its new status out) -------------------------------


def _entry(user: str, justification: str, now: datetime) -> dict[str, str]:
    return {"user": user, "justification": justification, "time": now_stamp(now)}


def approval_problem(obj: dict[str, Any], user: str, now: datetime) -> Refused | None:
    """Why `user` may not approve (or deny) it now; RBAC is the caller's to ask first. A
    request pending past its deadline is decided no more, even before the worker marks it
    Expired."""
    name = name_of(obj)
    if user == requester(obj):
        return Refused("forbidden", f"{user} may not approve or deny their own request {name}")
    problem = phase_problem(obj, (PENDING,))
    deadline = parse_stamp(status_of(obj).get("expiresAt"))
    if problem is None and deadline is not None and deadline <= now:
        problem = Refused("conflict", f"access request {name} expired at {now_stamp(deadline)}")
    return problem


def phase_problem(obj: dict[str, Any], allowed: tuple[str, ...]) -> Refused | None:
    """A 409 unless the request is in one of `allowed` and not being deleted."""
    name = name_of(obj)
    if deleting(obj):
        return Refused("conflict", f"access request {name} is being deleted")
    if phase(obj) not in allowed:
        return Refused("conflict", f"access request {name} is {phase(obj) or 'not yet created'}")
    return None


def already_approved(obj: dict[str, Any], user: str) -> Refused | None:
    if any(a.get("user") == user for a in approvals(obj)):
        return Refused("conflict", f"{user} already approved {name_of(obj)}")
    return None


def approve(obj: dict[str, Any], user: str, justification: str, now: datetime) -> dict[str, Any]:
    """One approval more; the last one needed opens the window (Approved, expiresAt = now +
    durationSeconds). An approver counts once."""
    problem = approval_problem(obj, user, now) or already_approved(obj, user)
    if problem is not None:
        raise problem
    status = dict(status_of(obj))
    given = [*approvals(obj), _entry(user, justification, now)]
    status["approvals"] = given
    required = status.get("approvalsRequired")
    needed = required if isinstance(required, int) and required >= 1 else 1
    if len(given) >= needed:
        duration = spec_of(obj).get("durationSeconds")
        seconds = duration if isinstance(duration, int) and duration > 0 else MIN_DURATION
        status.update(
            phase=APPROVED,
            approvedAt=now_stamp(now),
            expiresAt=now_stamp(now + timedelta(seconds=seconds)),
            lastTransition=now_stamp(now),
            message=f"approved by {', '.join(str(a.get('user')) for a in given)}"[:MESSAGE_MAX],
        )
    return status


def deny(obj: dict[str, Any], user: str, justification: str, now: datetime) -> dict[str, Any]:
    """One denial ends it."""
    problem = approval_problem(obj, user, now)
    if problem is not None:
        raise problem
    return _end(obj, DENIED, user, justification, now, f"denied by {user}")


def revoke(obj: dict[str, Any], user: str, justification: str, now: datetime) -> dict[str, Any]:
    """Pending or Approved -> Revoked (an approver's; the requester cancels instead)."""
    name = name_of(obj)
    if user == requester(obj):
        raise Refused("forbidden", f"{user} may not revoke their own request {name}; cancel it")
    problem = phase_problem(obj, (PENDING, APPROVED))
    if problem is not None:
        raise problem
    return _end(obj, REVOKED, user, justification, now, f"revoked by {user}")


def cancel(obj: dict[str, Any], user: str, justification: str, now: datetime) -> dict[str, Any]:
    """Pending or Approved -> Cancelled, by the requester only."""
    name = name_of(obj)
    if user != requester(obj):
        raise Refused("forbidden", f"{user} may not cancel access request {name}")
    problem = phase_problem(obj, (PENDING, APPROVED))
    if problem is not None:
        raise problem
    return _end(obj, CANCELLED, user, justification, now, f"cancelled by {user}")


def _end(
    obj: dict[str, Any], new: str, user: str, justification: str, now: datetime, message: str
) -> dict[str, Any]:
    status = dict(status_of(obj))
    status.update(
        phase=new,
        decision=_entry(user, justification, now),
        endedAt=now_stamp(now),
        lastTransition=now_stamp(now),
        message=message[:MESSAGE_MAX],
    )
    return status


class Change(NamedTuple):
    """What one write did, for its audit line and Event: `outcome` is the new phase
    lowercased, or "approval" for an approval that left it Pending."""

    old: str
    new: str
    outcome: str


def change_of(before: dict[str, Any], after: dict[str, Any]) -> Change | None:
    """The change between two versions of one request (None: nothing to record)."""
    old, new = phase(before), phase(after)
    if old != new:
        return Change(old, new, new.lower())
    if len(approvals(after)) > len(approvals(before)):
        return Change(old, new, "approval")
    return None


# --- visibility and caps -----------------------------------------------------------------


def visible(obj: dict[str, Any], user: str, approvable: set[str]) -> bool:
    """Requesters see their own requests; approvers those of environments they may
    approve (`approvable`: those environment ids)."""
    return requester(obj) == user or environment(obj) in approvable


class Counts(NamedTuple):
    pending_here: int  # the user's Pending requests on the environment
    pending: int  # the user's Pending requests in all
    recent: list[datetime]  # creation times of the user's requests in the last hour, sorted


def counts(items: Iterable[dict[str, Any]], user: str, env_id: str, now: datetime) -> Counts:
    since = now - timedelta(hours=1)
    here = mine = 0
    recent = []
    for obj in items:
        if requester(obj) != user:
            continue
        if phase(obj) in (PENDING, ""):  # "": created, its status not yet written
            mine += 1
            here += environment(obj) == env_id
        created = created_at(obj)
        if created is not None and created > since:
            recent.append(created)
    return Counts(here, mine, sorted(recent))


def caps_problem(
    c: Counts, user: str, env_id: str, per_env: int, per_user: int, per_hour: int, now: datetime
) -> tuple[str, int] | None:
    """(message, seconds to wait) for a creation the caps refuse, else None."""
    if c.pending_here >= per_env:
        return (
            f"{user} has {c.pending_here} pending access requests on {env_id} (at most "
            f"{per_env}); wait for a decision or cancel one",
            60,
        )
    if c.pending >= per_user:
        return (
            f"{user} has {c.pending} pending access requests (at most {per_user}); "
            "wait for a decision or cancel one",
            60,
        )
    if len(c.recent) >= per_hour:
        wait = c.recent[-per_hour] - (now - timedelta(hours=1))
        return (
            f"{user} created {len(c.recent)} access requests in the last hour (at most {per_hour})",
            max(1, int(wait.total_seconds()) + 1),
        )
    return None

"""The Promotion object (docs/api.md, "Promotions"): its phases and pure transitions.

A Promotion is a plain dict, as the management cluster stores it. Every transition here
takes the status and returns a changed copy; `changes()` lists the phase changes between
two statuses, which the service writes as audit lines and Events.
"""

from __future__ import annotations

import copy
import secrets
import string
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

GROUP = "scipian.io"
VERSION = "v1alpha1"
PLURAL = "promotions"
KIND = "Promotion"
API_VERSION = f"{GROUP}/{VERSION}"

RUNNING, AWAITING, SUCCEEDED, FAILED = "Running", "AwaitingApproval", "Succeeded", "Failed"
PENDING, DEPLOYING, VERIFYING = "Pending", "Deploying", "Verifying"
TERMINAL = (SUCCEEDED, FAILED)
STEP_UP_COVER = timedelta(hours=24)  # one step-up covers a promotion's steps this long
SUFFIX = string.ascii_lowercase + string.digits


def now_stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def new_name(release: str) -> str:
    """`<release>-<5 random [a-z0-9]>`, the release cut so that the name fits 63."""
    head = release[: 63 - 6].rstrip("-.")
    return f"{head}-" + "".join(secrets.choice(SUFFIX) for _ in range(5))


def new_promotion(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def initial_status(through: list[str], approvals: dict[str, int], now: datetime) -> dict[str, Any]:
    steps = []
    for i, env in enumerate(through):
        required = approvals.get(env, 0)
        steps.append(
            {
                "environment": env,
                "phase": AWAITING if i == 0 and required > 0 else PENDING,
                "approvalsRequired": required,
                "approvals": [],
                "message": "",
            }
        )
    return {
        "phase": AWAITING if steps and steps[0]["phase"] == AWAITING else RUNNING,
        "message": "",
        "stepUpExpires": now_stamp(now + STEP_UP_COVER),
        "steps": steps,
    }


def status_of(promo: dict[str, Any]) -> dict[str, Any]:
    status = promo.get("status")
    return status if isinstance(status, dict) else {}


def steps_of(promo: dict[str, Any]) -> list[dict[str, Any]]:
    steps = status_of(promo).get("steps")
    return steps if isinstance(steps, list) else []


def step_index(promo: dict[str, Any], env: str) -> int | None:
    for i, step in enumerate(steps_of(promo)):
        if step.get("environment") == env:
            return i
    return None


def phase(promo: dict[str, Any]) -> str:
    return str(status_of(promo).get("phase") or "")


def finished(promo: dict[str, Any]) -> bool:
    return phase(promo) in TERMINAL


def initiator(promo: dict[str, Any]) -> str:
    return str(((promo.get("spec") or {}).get("initiator") or {}).get("user") or "")


def abandoned(promo: dict[str, Any], now: datetime) -> bool:
    """An object without status for over a minute: its creation never finished."""
    created = parse_stamp((promo.get("metadata") or {}).get("creationTimestamp"))
    return created is not None and now - created > timedelta(seconds=60)


def approvals_met(step: dict[str, Any]) -> bool:
    return len(step.get("approvals") or []) >= int(step.get("approvalsRequired") or 0)


def first_open_step(promo: dict[str, Any]) -> int | None:
    """The first step not Succeeded (None: all are)."""
    for i, step in enumerate(steps_of(promo)):
        if step.get("phase") != SUCCEEDED:
            return i
    return None


# --- transitions: each returns a new status ---------------------------------------------


def _copy(status: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(status)


def start_step(
    status: dict[str, Any], i: int, now: datetime, previous_revision: int | None
) -> dict[str, Any]:
    """The step's credential is issued: Deploying (again, for a re-run of helm)."""
    out = _copy(status)
    step = out["steps"][i]
    if step.get("phase") != DEPLOYING:
        step["previousRevision"] = previous_revision
    step.update(phase=DEPLOYING, startedAt=now_stamp(now), message="")
    step.pop("verifiedAt", None)
    step.pop("finishedAt", None)
    out["phase"] = RUNNING
    return out


def fail_step(
    status: dict[str, Any], i: int, message: str, now: datetime, revision: int | None = None
) -> dict[str, Any]:
    out = _copy(status)
    step = out["steps"][i]
    step.update(phase=FAILED, message=message[:1024], finishedAt=now_stamp(now))
    if revision is not None:
        step["revision"] = revision
    out.update(phase=FAILED, message=f"{step['environment']}: {message}"[:1024])
    return out


def fail_promotion(status: dict[str, Any], message: str) -> dict[str, Any]:
    out = _copy(status)
    out.update(phase=FAILED, message=message[:1024])
    return out


def to_verifying(status: dict[str, Any], i: int) -> dict[str, Any]:
    out = _copy(status)
    out["steps"][i].update(phase=VERIFYING, message="")
    return out


def extend_step_up(status: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = _copy(status)
    out["stepUpExpires"] = now_stamp(now + STEP_UP_COVER)
    return out


class Verdict(NamedTuple):
    """What one verification found: "ok", "waiting" or "failed", why, and the revision."""

    state: str
    message: str = ""
    revision: int | None = None


def apply_verdict(
    status: dict[str, Any],
    i: int,
    verdict: Verdict,
    now: datetime,
    soak_seconds: int,
    timeout_seconds: int,
) -> dict[str, Any]:
    """A verification's outcome on a Verifying step (docs/api.md, "Verification")."""
    out = _copy(status)
    step = out["steps"][i]
    if verdict.state == "failed":
        return fail_step(out, i, verdict.message, now, verdict.revision)
    started = parse_stamp(step.get("startedAt")) or now
    if verdict.state == "waiting":
        step.pop("verifiedAt", None)  # a check went false: the soak starts again
        if now >= started + timedelta(seconds=timeout_seconds):
            why = f"not verified within {timeout_seconds}s: {verdict.message}"
            return fail_step(out, i, why, now, verdict.revision)
        step["message"] = verdict.message[:1024]
        return out
    verified = parse_stamp(step.get("verifiedAt"))
    if verified is None:
        verified = now
        step["verifiedAt"] = now_stamp(now)
    if verdict.revision is not None:
        step["revision"] = verdict.revision
    if now < verified + timedelta(seconds=soak_seconds):
        step["message"] = f"soaking until {now_stamp(verified + timedelta(seconds=soak_seconds))}"
        return out
    step.update(phase=SUCCEEDED, finishedAt=now_stamp(now), message="")
    return advance(out, i)


def advance(status: dict[str, Any], i: int) -> dict[str, Any]:
    """After step i succeeded: the next step waits for approvals if it needs them; the
    last one succeeding finishes the promotion."""
    out = _copy(status)
    steps = out["steps"]
    if i + 1 >= len(steps):
        out.update(phase=SUCCEEDED, message="")
        return out
    nxt = steps[i + 1]
    if nxt.get("phase") in (PENDING, AWAITING):
        nxt["phase"] = PENDING if approvals_met(nxt) else AWAITING
    out["phase"] = AWAITING if nxt["phase"] == AWAITING else RUNNING
    return out


def add_approval(
    status: dict[str, Any], i: int, user: str, justification: str, now: datetime
) -> dict[str, Any]:
    out = _copy(status)
    step = out["steps"][i]
    step.setdefault("approvals", []).append(
        {"user": user, "justification": justification, "time": now_stamp(now)}
    )
    if step.get("phase") == AWAITING and approvals_met(step):
        step["phase"] = PENDING
        if out.get("phase") == AWAITING:
            out["phase"] = RUNNING
    return out


def await_approval(status: dict[str, Any], i: int) -> dict[str, Any]:
    out = _copy(status)
    out["steps"][i]["phase"] = AWAITING
    out["phase"] = AWAITING
    return out


class Change(NamedTuple):
    """One phase change: step env ("" for the promotion itself), from, to, message."""

    environment: str
    old: str
    new: str
    message: str


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    old_steps = old.get("steps") or []
    for j, step in enumerate(new.get("steps") or []):
        before = old_steps[j].get("phase", "") if j < len(old_steps) else ""
        if step.get("phase") != before:
            out.append(
                Change(step["environment"], before, step.get("phase", ""), step.get("message", ""))
            )
    if new.get("phase") != old.get("phase"):
        out.append(Change("", old.get("phase", ""), new.get("phase", ""), new.get("message", "")))
    return out

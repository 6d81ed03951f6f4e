"""The Promotion object (docs/api.md, "Promotions"): its phases and pure transitions.

A Promotion is a plain dict, as the management cluster stores it. Every transition here
takes the status and returns a changed copy; `changes()` lists the phase changes between
two statuses, which the service and the executor write as audit lines and Events. Every
phase change stamps `lastTransition` (the idle deadline counts from it, deadlines.py).
Only the executor (executor.py) moves a step out of Pending; the routes write the
creation, approvals (AwaitingApproval -> Pending) and `cancelRequest`.
"""

from __future__ import annotations

import copy
import secrets
import string
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from scipian_backend.kube import parse_stamp as parse_stamp
from scipian_backend.kube import stamp

now_stamp = stamp  # the name these records' callers use

GROUP = "scipian.io"
VERSION = "v1alpha1"
PLURAL = "promotions"
KIND = "Promotion"
API_VERSION = f"{GROUP}/{VERSION}"

RUNNING, AWAITING, SUCCEEDED, FAILED = "Running", "AwaitingApproval", "Succeeded", "Failed"
CANCELLED = "Cancelled"
PENDING, DEPLOYING, VERIFYING = "Pending", "Deploying", "Verifying"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
FINALIZER = "scipian.io/executor"  # E adds it at creation; the executor removes it when done
MESSAGE_MAX = 1024
SUFFIX = string.ascii_lowercase + string.digits


def new_name(release: str) -> str:
    """`<release>-<5 random [a-z0-9]>`, the release cut so that the name fits 63."""
    head = release[: 63 - 6].rstrip("-.")
    return f"{head}-" + "".join(secrets.choice(SUFFIX) for _ in range(5))


def new_promotion(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def initial_status(
    through: list[str],
    approvals: dict[str, int],
    now: datetime,
    render_digests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every step Pending but a gated first one (AwaitingApproval from now); each step's
    renderDigest from the creation's render (what approvals bind, what execution compares)."""
    steps = []
    stamp = now_stamp(now)
    for i, env in enumerate(through):
        required = approvals.get(env, 0)
        step: dict[str, Any] = {
            "environment": env,
            "phase": AWAITING if i == 0 and required > 0 else PENDING,
            "approvalsRequired": required,
            "approvals": [],
            "message": "",
        }
        if render_digests and env in render_digests:
            step["renderDigest"] = render_digests[env]
        if step["phase"] == AWAITING:
            step["awaitingSince"] = stamp
        steps.append(step)
    return {
        "phase": AWAITING if steps and steps[0]["phase"] == AWAITING else RUNNING,
        "message": "",
        "lastTransition": stamp,
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


def spec_of(promo: dict[str, Any]) -> dict[str, Any]:
    spec = promo.get("spec")
    return spec if isinstance(spec, dict) else {}


def cancel_request(promo: dict[str, Any]) -> dict[str, Any] | None:
    """status.cancelRequest (the cancel route or a pre-emption wrote it), or None."""
    req = status_of(promo).get("cancelRequest")
    return req if isinstance(req, dict) and req else None


def cancel_message(req: dict[str, Any]) -> str:
    """`cancelled by USER`, or `pre-empted by NAME` when a superset chain took over."""
    reason = str(req.get("reason") or "")
    if reason.startswith(("pre-empted by ", "cancelled by ")):
        return reason[:MESSAGE_MAX]
    return f"cancelled by {req.get('user') or 'unknown'}"[:MESSAGE_MAX]


def deleting(promo: dict[str, Any]) -> bool:
    return bool((promo.get("metadata") or {}).get("deletionTimestamp"))


def has_finalizer(promo: dict[str, Any]) -> bool:
    return FINALIZER in ((promo.get("metadata") or {}).get("finalizers") or [])


def is_rollback(promo: dict[str, Any]) -> bool:
    return spec_of(promo).get("rollbackTo") is not None


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


def _moved(out: dict[str, Any], now: datetime) -> dict[str, Any]:
    out["lastTransition"] = now_stamp(now)
    return out


def _cut(message: str) -> str:
    return message[:MESSAGE_MAX]


def start_step(
    status: dict[str, Any],
    i: int,
    now: datetime,
    previous_revision: int | None,
    replica: str = "",
) -> dict[str, Any]:
    """The executor starts helm for step i: Deploying. A re-run (after a recovery) keeps
    the first start, so that the step's deadline is not extended by a takeover, and the
    previousRevision it first found."""
    out = _copy(status)
    step = out["steps"][i]
    if step.get("phase") != DEPLOYING:
        step["previousRevision"] = previous_revision
        step["startedAt"] = now_stamp(now)
    step.update(phase=DEPLOYING, message="")
    for stale in ("verifiedAt", "finishedAt", "revision", "manifestDigest", "configDigest"):
        step.pop(stale, None)
    if replica:
        step["executedBy"] = replica
        out["executedBy"] = replica
    out.update(phase=RUNNING, message="")
    return _moved(out, now)


def fail_step(
    status: dict[str, Any], i: int, message: str, now: datetime, revision: int | None = None
) -> dict[str, Any]:
    out = _copy(status)
    step = out["steps"][i]
    step.update(phase=FAILED, message=_cut(message), finishedAt=now_stamp(now))
    if revision is not None:
        step["revision"] = revision
    out.update(phase=FAILED, message=_cut(f"{step['environment']}: {message}"))
    return _moved(out, now)


def fail_promotion(
    status: dict[str, Any], message: str, now: datetime | None = None
) -> dict[str, Any]:
    out = _copy(status)
    out.update(phase=FAILED, message=_cut(message))
    return _moved(out, now) if now is not None else out


def cancel(status: dict[str, Any], message: str, now: datetime) -> dict[str, Any]:
    """The open step (if one has started or waits) and the promotion: Cancelled."""
    out = _copy(status)
    for step in out.get("steps") or []:
        if step.get("phase") in (AWAITING, DEPLOYING, VERIFYING):
            step.update(phase=CANCELLED, message=_cut(message), finishedAt=now_stamp(now))
            break
    out.update(phase=CANCELLED, message=_cut(message))
    return _moved(out, now)


def to_verifying(
    status: dict[str, Any],
    i: int,
    now: datetime | None = None,
    *,
    revision: int | None = None,
    manifest_digest: str = "",
    config_digest: str = "",
) -> dict[str, Any]:
    """helm exited 0: what it says it deployed (revision and digests of its own -o json)
    is what verification and every later re-verification compare against."""
    out = _copy(status)
    step = out["steps"][i]
    step.update(phase=VERIFYING, message="")
    if revision is not None:
        step["revision"] = revision
    if manifest_digest:
        step["manifestDigest"] = manifest_digest
    if config_digest:
        step["configDigest"] = config_digest
    return _moved(out, now) if now is not None else out


def record_recovery(status: dict[str, Any], i: int, what: str) -> dict[str, Any]:
    """What a replica taking over found and did (a pending release rolled back)."""
    out = _copy(status)
    out["steps"][i]["recovery"] = _cut(what)
    return out


def set_step_message(status: dict[str, Any], i: int, message: str) -> dict[str, Any]:
    out = _copy(status)
    out["steps"][i]["message"] = _cut(message)
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
    timeout_seconds: int = 0,
) -> dict[str, Any]:
    """A verification's outcome on a Verifying step (docs/api.md, "Verification"): failed
    fails the step (`verification: …`); waiting restarts the soak; ok starts it, and once
    it has lasted soak_seconds the step succeeds. (Its deadline is deadlines.py's.)"""
    del timeout_seconds  # the Verifying deadline is deadlines.py's, one place for all
    out = _copy(status)
    step = out["steps"][i]
    if verdict.state == "failed":
        why = (
            verdict.message
            if verdict.message.startswith("verification: ")
            else (f"verification: {verdict.message}")
        )
        return fail_step(out, i, why, now, verdict.revision)
    if verdict.state == "waiting":
        step.pop("verifiedAt", None)  # a check went false: the soak starts again
        step["message"] = _cut(verdict.message)
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
    return advance(out, i, now)


def advance(status: dict[str, Any], i: int, now: datetime | None = None) -> dict[str, Any]:
    """After step i succeeded: the next step waits for approvals if it needs them; the
    last one succeeding finishes the promotion."""
    out = _copy(status)
    steps = out["steps"]
    if now is not None:
        _moved(out, now)
    if i + 1 >= len(steps):
        out.update(phase=SUCCEEDED, message="")
        return out
    nxt = steps[i + 1]
    if nxt.get("phase") in (PENDING, AWAITING):
        nxt["phase"] = PENDING if approvals_met(nxt) else AWAITING
        if nxt["phase"] == AWAITING and now is not None:
            nxt["awaitingSince"] = now_stamp(now)
    out["phase"] = AWAITING if nxt["phase"] == AWAITING else RUNNING
    return out


def add_approval(
    status: dict[str, Any],
    i: int,
    user: str,
    justification: str,
    now: datetime,
    diff_digest: str = "",
) -> dict[str, Any]:
    out = _copy(status)
    step = out["steps"][i]
    approval = {"user": user, "justification": justification, "time": now_stamp(now)}
    if diff_digest:
        approval["diffDigest"] = diff_digest
    step.setdefault("approvals", []).append(approval)
    if step.get("phase") == AWAITING and approvals_met(step):
        step["phase"] = PENDING
        if out.get("phase") == AWAITING:
            out["phase"] = RUNNING
        _moved(out, now)
    return out


def await_approval(
    status: dict[str, Any], i: int, now: datetime | None = None, required: int | None = None
) -> dict[str, Any]:
    """Step i needs (more) approvals: AwaitingApproval from now (its 72 h deadline counts
    from awaitingSince); `required` raises approvalsRequired to a gate added since."""
    out = _copy(status)
    step = out["steps"][i]
    if required is not None:
        step["approvalsRequired"] = max(int(step.get("approvalsRequired") or 0), required)
    step["phase"] = AWAITING
    out["phase"] = AWAITING
    if now is not None:
        step["awaitingSince"] = now_stamp(now)
        _moved(out, now)
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

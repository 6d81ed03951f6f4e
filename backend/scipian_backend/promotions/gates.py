"""The gates of a promotion, decided from objects already read (pure).

The backend enforces the order: environment k's deploy credential only when every
earlier step is Succeeded (the one before it re-verified by the caller of these functions)
and k's approvals are met. `requirePromotionFrom: X` of an environment is met by a chain
in which X comes earlier (checked at creation; the order gate then makes X succeed first).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scipian_backend.promotions import records as r


def order_problem(through: list[str], require_from: dict[str, str]) -> str | None:
    """Why this chain cannot satisfy an environment's requirePromotionFrom, or None."""
    for k, env in enumerate(through):
        needed = require_from.get(env, "")
        if needed and needed not in through[:k]:
            return (
                f"{env} requires a promotion from {needed} (requirePromotionFrom): "
                f"{needed} must come before {env} in the chain"
            )
    return None


class Gate(NamedTuple):
    """A refusal: "conflict" (409), "forbidden" (403) or "approval" (403, the step waits)."""

    kind: str
    message: str


def step_gate(promo: dict[str, Any], i: int) -> Gate | None:
    """May step i's credential be issued, as far as the record says? (Re-verifying the
    step before it comes after, on the target.)"""
    name = promo.get("metadata", {}).get("name", "")
    steps = r.steps_of(promo)
    step = steps[i]
    env = step.get("environment", "")
    if r.finished(promo):
        return Gate("conflict", f"promotion {name} is {r.phase(promo)}")
    if step.get("phase") in (r.SUCCEEDED, r.FAILED, r.VERIFYING):
        return Gate("conflict", f"step {env} of promotion {name} is {step.get('phase')}")
    for earlier in steps[:i]:
        if earlier.get("phase") != r.SUCCEEDED:
            return Gate(
                "forbidden",
                f"step {env} of promotion {name} needs {earlier.get('environment')} "
                f"Succeeded first (it is {earlier.get('phase')})",
            )
    if not r.approvals_met(step):
        need, have = int(step.get("approvalsRequired") or 0), len(step.get("approvals") or [])
        noun = "approval" if need == 1 else "approvals"
        return Gate("approval", f"{env} needs {need} {noun}, has {have}")
    return None


def approval_problem(promo: dict[str, Any], i: int, user: str) -> Gate | None:
    """May `user` approve step i now (RBAC and step-up are checked by the caller)?"""
    name = promo.get("metadata", {}).get("name", "")
    if user == r.initiator(promo):
        return Gate("forbidden", f"{user} started promotion {name} and cannot approve it")
    step = r.steps_of(promo)[i]
    env = step.get("environment", "")
    if r.finished(promo):
        return Gate("conflict", f"promotion {name} is {r.phase(promo)}")
    if step.get("phase") not in (r.PENDING, r.AWAITING):
        return Gate("conflict", f"step {env} of promotion {name} is {step.get('phase')}")
    if (r.status_of(promo).get("cancelRequest") or {}).get("reason"):
        return Gate("conflict", f"promotion {name} is being cancelled")
    return None


def digest_problem(promo: dict[str, Any], i: int, diff_digest: str) -> Gate | None:
    """An approval binds the diff its approver read: its digest is the step's renderDigest
    (change.md §6), or the approval is refused."""
    if diff_digest != r.steps_of(promo)[i].get("renderDigest"):
        return Gate("conflict", "the diff changed since you read it")
    return None


def already_approved(promo: dict[str, Any], i: int, user: str) -> Gate | None:
    step = r.steps_of(promo)[i]
    if any(a.get("user") == user for a in step.get("approvals") or []):
        name = promo.get("metadata", {}).get("name", "")
        return Gate("conflict", f"{user} already approved step {step.get('environment')} of {name}")
    return None

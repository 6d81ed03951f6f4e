"""Every waiting state of a promotion has a deadline (change.md §5; pure).

- `Deploying` ends at the step's `startedAt` + `timeoutSeconds`.
- `Verifying` ends at `startedAt` + `timeoutSeconds` + `soakSeconds`: the timeout bounds
  the run and its verification, the soak is added on top (a long soak is not a timeout).
- `AwaitingApproval` ends at the step's `awaitingSince` + the approval limit (72 h,
  `serve --promotion-approval-seconds`).
- Idle: a promotion whose open step is `Pending` (nobody could run it: helm slots busy, a
  target unreachable, no replica) ends at `lastTransition` + idle factor x `timeoutSeconds`
  (`serve --promotion-idle-factor`, 2).

Each ends the promotion `Failed` with the reason `timeout`; the executor rolls a step
that may have changed its environment back first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from scipian_backend.promotions import records as r

APPROVAL_SECONDS = 259_200  # 72 h
IDLE_FACTOR = 2.0
DEFAULT_TIMEOUT = 300  # a promotion written without timeoutSeconds (v1 objects)
TIMEOUT = "timeout"


@dataclass(frozen=True)
class Limits:
    approval_seconds: int = APPROVAL_SECONDS
    idle_factor: float = IDLE_FACTOR


class Due(NamedTuple):
    """The nearest deadline of a promotion: when, which step (None: the promotion's idle
    deadline) and in which phase it was set."""

    at: datetime
    step: int | None
    phase: str


def timeout_seconds(promo: dict[str, Any]) -> int:
    value = r.spec_of(promo).get("timeoutSeconds")
    return value if isinstance(value, int) and value > 0 else DEFAULT_TIMEOUT


def soak_seconds(promo: dict[str, Any]) -> int:
    value = r.spec_of(promo).get("soakSeconds")
    return value if isinstance(value, int) and value > 0 else 0


def open_step(promo: dict[str, Any]) -> int | None:
    """The step the promotion is at: the first not Succeeded (None: none is open)."""
    for i, step in enumerate(r.steps_of(promo)):
        if step.get("phase") != r.SUCCEEDED:
            return i
    return None


def step_deadline(promo: dict[str, Any], i: int, limits: Limits) -> datetime | None:
    """When step i's current phase ends (None: the phase has no deadline of its own)."""
    step = r.steps_of(promo)[i]
    phase = step.get("phase")
    timeout = timedelta(seconds=timeout_seconds(promo))
    if phase in (r.DEPLOYING, r.VERIFYING):
        started = r.parse_stamp(step.get("startedAt"))
        if started is None:
            return None
        if phase == r.DEPLOYING:
            return started + timeout
        return started + timeout + timedelta(seconds=soak_seconds(promo))
    if phase == r.AWAITING:
        since = r.parse_stamp(step.get("awaitingSince"))
        return since + timedelta(seconds=limits.approval_seconds) if since else None
    return None


def due(promo: dict[str, Any], limits: Limits) -> Due | None:
    """The deadline the promotion waits under now (None: finished, or nothing to wait for)."""
    if r.finished(promo):
        return None
    i = open_step(promo)
    if i is None:
        return None
    step = r.steps_of(promo)[i]
    phase = str(step.get("phase") or "")
    at = step_deadline(promo, i, limits)
    if at is not None:
        return Due(at, i, phase)
    if phase != r.PENDING:
        return None
    last = r.parse_stamp(r.status_of(promo).get("lastTransition"))
    if last is None:
        last = r.parse_stamp((promo.get("metadata") or {}).get("creationTimestamp"))
    if last is None:
        return None
    idle = timedelta(seconds=limits.idle_factor * timeout_seconds(promo))
    return Due(last + idle, None, phase)


def expired(promo: dict[str, Any], now: datetime, limits: Limits) -> Due | None:
    """The deadline that has passed (None: none has)."""
    found = due(promo, limits)
    return found if found is not None and now >= found.at else None


def seconds_left(promo: dict[str, Any], now: datetime, limits: Limits) -> float | None:
    found = due(promo, limits)
    if found is None:
        return None
    return max(0.0, (found.at - now).total_seconds())

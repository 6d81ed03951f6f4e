"""Break-glass use cases (docs/api.md "Break-glass"): record one before its credential is
minted, list an environment's, acknowledge one.

Recording, in this order, before the credential exists: the audit line, the Warning Event
(waited for), the entry in the Environment's status. If the Event or the entry cannot be
written, the credential is refused: no Event, no credential. Acknowledging needs
`create environments/approve` on the environment, a fresh login (its step-up) and a
justification, and is never done by the one who broke the glass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scipian_backend.audit.records import Record
from scipian_backend.breakglass import entries as e
from scipian_backend.breakglass.status import EnvironmentStatus
from scipian_backend.config import DEFAULT_MAX_AUTH_AGE
from scipian_backend.environments.store import Environment, parse_environment
from scipian_backend.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InsufficientUserAuthentication,
    NotFound,
    ServiceUnavailable,
)
from scipian_backend.identity.authn import Identity, step_up_problem
from scipian_backend.ratelimit import READ
from scipian_backend.usecases import Audit, Backend, Caller

ERRORS: dict[str, type[ApiError]] = {
    "not_found": NotFound,
    "forbidden": Forbidden,
    "conflict": Conflict,
}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class BreakGlass:
    def __init__(
        self,
        backend: Backend,
        status: EnvironmentStatus,
        limit: int,
        now: Callable[[], str] = _now,
    ) -> None:
        self._b = backend
        self._status = status
        self._limit = limit
        self._now = now

    def record(self, env: Environment, who: Identity, audit: Audit) -> str:
        """Before a break-glass credential is minted: its audit line, Event and entry.
        Returns the entry's id; raises (and the caller mints nothing) if any is not written."""
        b = self._b
        now = self._now()
        entry = e.new_entry(e.new_id(), who.username, audit.justification, audit.request_id, now)
        b.auditor.line(
            Record(
                event="breakglass",
                request_id=audit.request_id,
                outcome="recorded",
                environment=env.id,
                user=who.username,
                groups=who.groups,
                level="deploy",
                justification=audit.justification,
                auth_time=who.auth_time,
                break_glass=True,
                break_glass_id=entry["id"],
            )
        )
        body = e.event(
            env.id, env.uid, "BreakGlass", "Warning", e.broken_message(env.id, entry), now
        )
        try:
            b.auditor.event_now(body)
            self._status.update(
                env.id, lambda obj: e.appended(e.entries_of(obj), entry, self._limit)
            )
        except ApiError as err:
            b._deny(audit, who, "error", f"break-glass not recorded: {err.message}", env.uid)
            raise ServiceUnavailable(
                f"the break-glass on {env.id} could not be recorded, so no credential was issued"
            ) from None
        b.metrics.break_glass(env.id, bool(env.deploy and env.deploy.gated))
        b.notify(
            "breakglass",
            environment=env.id,
            id=entry["id"],
            user=who.username,
            justification=audit.justification,
        )
        return str(entry["id"])

    def entries(self, env_id: str, authorization: Caller, request_id: str) -> dict[str, Any]:
        """Every kept entry of an environment, newest first: for whoever may use it (the
        activity page shows its Events to them already)."""
        b = self._b
        audit = Audit(request_id, env_id)
        who = b._authenticate(authorization, audit, READ)
        if not b.authorizer.may_get_kubeconfig(who, env_id):
            b._deny(audit, who, "forbidden", "RBAC denied (break-glass list)")
            raise Forbidden(f"{who.username} may not use environment {env_id}")
        obj = self._status.read(env_id)
        if obj is None:
            raise NotFound(f"no environment {env_id}")
        items = sorted(e.entries_of(obj), key=lambda x: str(x.get("time") or ""), reverse=True)
        return {"environment": env_id, "items": [e.answer(env_id, x) for x in items]}

    def pending(self, who: Identity, request_id: str) -> list[dict[str, Any]]:
        """The unacknowledged entries of the environments `who` may use, newest first, each
        saying whether `who` may acknowledge it (the dashboard's list)."""
        allowed = {x["id"] for x in self._b.environments(who, request_id)}
        if not allowed:
            return []
        rows: list[dict[str, Any]] = []
        for obj in self._status.list():
            env_id = str((obj.get("metadata") or {}).get("name") or "")
            if env_id in allowed:
                rows += [dict(e.answer(env_id, x)) for x in e.pending(e.entries_of(obj))]
        # One SubjectAccessReview per environment with someone else's entry.
        others = sorted({r["environment"] for r in rows if r["user"] != who.username})
        approver: dict[str, bool] = {}
        if others:
            with ThreadPoolExecutor(min(8, len(others))) as pool:
                asked = pool.map(lambda env_id: self._b.authorizer.may_approve(who, env_id), others)
                approver = dict(zip(others, asked, strict=True))
        for r in rows:
            r["can_acknowledge"] = (
                approver.get(r["environment"], False) and r["user"] != who.username
            )
        return sorted(rows, key=lambda r: str(r["time"]), reverse=True)

    def acknowledge(
        self,
        env_id: str,
        entry_id: str,
        justification: str,
        authorization: Caller,
        request_id: str,
    ) -> dict[str, Any]:
        b = self._b
        who, audit = b.require_approve(
            authorization,
            Audit(request_id, env_id, "deploy", justification),
            "break-glass acknowledgement",
        )
        obj = self._status.read(env_id)
        if obj is None:
            b._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        env = parse_environment(obj)
        problem = e.acknowledge_problem(
            e.find(e.entries_of(obj), entry_id), env_id, entry_id, who.username
        )
        if problem is not None:
            b._deny(audit, who, problem[0], problem[1], env.uid)
            raise ERRORS[problem[0]](problem[1])
        self._step_up(env, who, audit)
        now = self._now()

        def acknowledged(o: dict[str, Any]) -> list[dict[str, Any]]:
            found = e.entries_of(o)
            again = e.acknowledge_problem(e.find(found, entry_id), env_id, entry_id, who.username)
            if again is not None:  # changed since it was read: refuse, as a fresh read would
                raise ERRORS[again[0]](again[1])
            return e.with_acknowledgement(found, entry_id, who.username, justification, now)

        written = self._status.update(env_id, acknowledged)
        entry = e.find(e.entries_of(written), entry_id) or {"id": entry_id}
        b.auditor.line(
            Record(
                event="breakglass",
                request_id=request_id,
                outcome="acknowledged",
                environment=env_id,
                user=who.username,
                groups=who.groups,
                reason=f"break-glass of {entry.get('user')}",
                level="deploy",
                justification=justification,
                auth_time=who.auth_time,
                break_glass_id=entry_id,
            )
        )
        message = e.acknowledged_message(env_id, entry, who.username, justification)
        b.auditor.event(e.event(env_id, env.uid, "BreakGlassAcknowledged", "Normal", message, now))
        b.notify(
            "breakglass.acknowledged",
            environment=env_id,
            id=entry_id,
            user=who.username,
            requester=entry.get("user"),
            justification=justification,
        )
        return e.answer(env_id, entry)

    def _step_up(self, env: Environment, who: Identity, audit: Audit) -> None:
        """The environment's step-up (its deploy level's, else the default age)."""
        age = env.deploy.max_auth_age_seconds if env.deploy else DEFAULT_MAX_AUTH_AGE
        problem = step_up_problem(
            who.auth_time, age, self._b.clock(), self._b.settings.leeway_seconds
        )
        if problem is not None:
            self._b._deny(audit, who, "step_up_required", problem, env.uid)
            raise InsufficientUserAuthentication(problem, age)

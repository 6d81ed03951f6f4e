"""Access request use cases (docs/api.md, "Access requests"; change.md §9): create, list,
get, long-poll, approve, deny, revoke, cancel.

This service writes, by the single-writer rule, the creation, approvals and denials
(Pending -> Approved | Denied), cancel and revoke; the worker (worker.py) expires pending
requests, ends windows and removes the finalizer. Decisions are the pure functions of
records.py and bodies.py; writes use optimistic concurrency (store.py), and each state
change becomes one audit line, one Event on the request and one notification.

Visibility (never an existence oracle): requesters see their own requests, approvers
those of environments they may approve (`create environments/approve`); anyone else gets
the same 404 as for a missing request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from scipian_backend.accessrequests import records as r
from scipian_backend.accessrequests.bodies import CreateRequest, create_request
from scipian_backend.accessrequests.events import change_event, change_record
from scipian_backend.accessrequests.store import AccessRequestStore, NameTaken
from scipian_backend.config import DEFAULT_MAX_AUTH_AGE
from scipian_backend.environments.store import Environment
from scipian_backend.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientUserAuthentication,
    NotFound,
    ServiceUnavailable,
)
from scipian_backend.identity.authn import Identity, step_up_problem
from scipian_backend.kube import ObjectGone
from scipian_backend.ratelimit import READ, TooManyRequests
from scipian_backend.usecases import Audit, Backend, Caller

NAME_ATTEMPTS = 5


class AccessRequests:
    def __init__(
        self,
        backend: Backend,
        store: AccessRequestStore,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._b = backend
        self._store = store
        self._now = now
        self._pool = ThreadPoolExecutor(8, "scipian-accessrequests")
        s = backend.settings
        # Long polls wait here, never in the routes' pool (as promotions' do, with their
        # settings: --promotion-watch-seconds, --promotion-watches-per-replica).
        n = max(1, s.promotion_watches_per_replica)
        self._watches = threading.BoundedSemaphore(n)
        self._watching = s.promotion_watches_per_replica > 0
        self.watch_pool = ThreadPoolExecutor(n + 8, "scipian-accessrequest-watch")

    # --- reads --------------------------------------------------------------------------

    def list(
        self, authorization: Caller, request_id: str, environment: str | None = None
    ) -> dict[str, Any]:
        """The caller's own requests and those of environments they may approve, oldest
        first, as kubectl prints a List (managedFields dropped)."""
        who = self._b._authenticate(authorization, request_id, READ)
        selector = f"{r.ENVIRONMENT_LABEL}={environment}" if environment is not None else None
        items = self._store.list(selector)
        if environment is not None:
            items = [o for o in items if r.environment(o) == environment]
        approvable = self._approvable(who, {r.environment(o) for o in items})
        return {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": [_shown(o) for o in items if r.visible(o, who.username, approvable)],
        }

    def get(self, name: str, authorization: Caller, request_id: str) -> dict[str, Any]:
        who = self._b._authenticate(authorization, request_id, READ)
        return _shown(self._visible(who, name))

    def watch(
        self, name: str, resource_version: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        """The long poll: the request as soon as it differs from `resource_version`, or as
        it is after at most --promotion-watch-seconds; at once when every waiting slot of
        this replica is taken (the client asks again)."""
        who = self._b._authenticate(authorization, request_id, READ)
        obj = self._visible(who, name)
        if obj["metadata"].get("resourceVersion") != resource_version or r.finished(obj):
            return _shown(obj)
        if not self._watching or not self._watches.acquire(blocking=False):
            return _shown(obj)
        try:
            self._store.wait_change(
                name, resource_version, self._b.settings.promotion_watch_seconds
            )
        finally:
            self._watches.release()
        return _shown(self._visible(who, name))

    # --- create -------------------------------------------------------------------------

    def create(
        self,
        env_id: str,
        req: CreateRequest | dict[str, Any],
        authorization: Caller,
        request_id: str,
    ) -> dict[str, Any]:
        """Order: (the body) → authentication → RBAC `create environments/request-<level>`
        → existence → what the Environment allows (400) → the caps (429) → the object,
        Pending. `req`: the checked body, or the body itself (the dashboard's form)."""
        if isinstance(req, dict):
            req = create_request(req)
        b = self._b
        audit = Audit(request_id, env_id, req.level, req.justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        if not b.authorizer.allowed(who, env_id, "create", f"request-{req.level}"):
            b._deny(audit, who, "forbidden", f"RBAC denied (request-{req.level})")
            raise Forbidden(f"{who.username} may not request {req.level} access to {env_id}")
        env = b.store.get(env_id)
        if env is None:
            b._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        namespaces = self._namespaces(env, req)
        if req.duration > env.max_access_seconds:
            raise BadRequest(
                f"durationSeconds {req.duration} is longer than {env_id} allows "
                f"(maxAccessSeconds {env.max_access_seconds})"
            )
        self._check_caps(who, env_id)
        now = self._now()
        required = env.deploy.approvals_required if env.deploy is not None else 0
        status = r.initial_status(required, now, b.settings.request_pending_seconds)
        created = self._create(env_id, req, namespaces, who)
        name = r.name_of(created)
        try:
            _, after = self._store.update_status(name, lambda _: status)
        except BaseException:
            self._store.delete(name)  # nothing was granted under it yet
            raise
        self._record({}, after, who, request_id, req.justification)
        return _shown(after)

    def _namespaces(self, env: Environment, req: CreateRequest) -> tuple[str, ...]:
        if req.level != "deploy":
            return ()
        if env.deploy is None:
            raise BadRequest(f"environment {env.id} has no deploy level")
        outside = sorted(set(req.namespaces) - set(env.deploy.namespaces))
        if outside:
            raise BadRequest(
                f"{env.id} does not deploy to namespace(s) {', '.join(outside)} "
                f"(its deploy namespaces: {', '.join(env.deploy.namespaces)})"
            )
        return req.namespaces or env.deploy.namespaces

    def _check_caps(self, who: Identity, env_id: str) -> None:
        """Pending requests per user and environment and per user, creations per hour
        (flags), counted on mgmt so that every replica sees the same numbers."""
        s = self._b.settings
        now = self._now()
        problem = r.caps_problem(
            r.counts(self._store.list(r.user_selector(who.username)), who.username, env_id, now),
            who.username,
            env_id,
            s.request_max_pending_per_env,
            s.request_max_pending_per_user,
            s.request_creations_per_hour,
            now,
        )
        if problem is not None:
            raise TooManyRequests(*problem)

    def _create(
        self, env_id: str, req: CreateRequest, namespaces: Iterable[str], who: Identity
    ) -> dict[str, Any]:
        for _ in range(NAME_ATTEMPTS):
            body = r.new_request(
                r.new_name(env_id, req.level), env_id, req.level, namespaces, req.duration,
                req.justification, who.username, who.groups,
            )  # fmt: skip
            try:
                return self._store.create(body)
            except NameTaken:
                continue
        raise ServiceUnavailable("could not name the access request; try again")

    # --- decisions ----------------------------------------------------------------------

    def approve(
        self, name: str, justification: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        return self._decide(name, justification, authorization, request_id, "approval")

    def deny(
        self, name: str, justification: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        return self._decide(name, justification, authorization, request_id, "denial")

    def revoke(
        self, name: str, justification: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        return self._decide(name, justification, authorization, request_id, "revoke")

    def _decide(
        self, name: str, justification: str, authorization: Caller, request_id: str, what: str
    ) -> dict[str, Any]:
        """An approver's act: visible to them, never their own request, RBAC approve on its
        environment, their own fresh login; then the transition, re-checked on the object
        as written (a concurrent act is seen)."""
        b = self._b
        audit = Audit(request_id, None, "deploy", justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        obj = self._visible(who, name, audit)
        env_id = r.environment(obj)
        audit = audit._replace(environment=env_id, level=r.level(obj) or "read")
        if who.username == r.requester(obj):
            message = (
                f"{who.username} may not revoke their own request {name}; cancel it"
                if what == "revoke"
                else f"{who.username} may not approve or deny their own request {name}"
            )
            b._deny(audit, who, "forbidden", message)
            raise Forbidden(message)
        if not b.authorizer.may_approve(who, env_id):
            b._deny(audit, who, "forbidden", f"RBAC denied (access request {what})")
            raise Forbidden(f"{who.username} may not approve on environment {env_id}")
        env = b.store.get(env_id)
        self._step_up(env, env_id, who, audit)
        transition = {"approval": r.approve, "denial": r.deny, "revoke": r.revoke}[what]
        now = self._now()
        if what == "approval":
            problem = r.approval_problem(obj, who.username, now) or r.already_approved(
                obj, who.username
            )
            if problem is not None:
                b._deny(audit, who, problem.kind, problem.message, env.uid if env else None)
                raise _error(problem)

        def apply(o: dict[str, Any]) -> dict[str, Any]:
            try:
                return transition(o, who.username, justification, now)
            except r.Refused as refused:
                raise _error(refused) from None

        before, after = self._update(name, apply)
        self._record(before, after, who, request_id, justification)
        if what == "revoke" and r.phase(before) == r.APPROVED:
            self._revoke_sessions(after)
        return _shown(after)

    def cancel(
        self, name: str, justification: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        """The requester's: Pending or Approved -> Cancelled (an Approved one's sessions
        are deleted before the answer)."""
        b = self._b
        audit = Audit(request_id, None, "read", justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        obj = self._visible(who, name, audit)
        if who.username != r.requester(obj):
            audit = audit._replace(environment=r.environment(obj))
            b._deny(audit, who, "forbidden", f"not the requester of {name} (cancel)")
            raise Forbidden(f"{who.username} may not cancel access request {name}")
        now = self._now()

        def apply(o: dict[str, Any]) -> dict[str, Any]:
            try:
                return r.cancel(o, who.username, justification, now)
            except r.Refused as refused:
                raise _error(refused) from None

        before, after = self._update(name, apply)
        self._record(before, after, who, request_id, justification)
        if r.phase(before) == r.APPROVED:
            self._revoke_sessions(after)
        return _shown(after)

    # --- shared -------------------------------------------------------------------------

    def _visible(self, who: Identity, name: str, audit: Audit | None = None) -> dict[str, Any]:
        """The request, when the caller may see it; else the 404 of a missing one."""
        obj = self._store.get(name)
        if obj is not None and r.status_of(obj):
            if who.username == r.requester(obj):
                return obj
            if self._b.authorizer.may_approve(who, r.environment(obj)):
                return obj
        if audit is not None:
            self._b._deny(audit, who, "not_found", f"no access request {name} visible")
        raise NotFound(f'{r.RESOURCE} "{name}" not found')

    def _update(
        self, name: str, transition: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return self._store.update_status(name, transition)
        except ObjectGone:  # deleted since it was read
            raise NotFound(f'{r.RESOURCE} "{name}" not found') from None

    def _approvable(self, who: Identity, envs: set[str]) -> set[str]:
        """Those of `envs` the caller may approve on (one review each, in parallel)."""
        ordered = sorted(e for e in envs if e)
        authz = self._b.authorizer
        allowed = list(self._pool.map(lambda e: authz.may_approve(who, e), ordered))
        return {e for e, ok in zip(ordered, allowed, strict=True) if ok}

    def _step_up(self, env: Environment | None, env_id: str, who: Identity, audit: Audit) -> None:
        """The approver's own login is fresh: the Environment's deploy.maxAuthAgeSeconds,
        DEFAULT_MAX_AUTH_AGE without a deploy level."""
        b = self._b
        max_age = (
            env.deploy.max_auth_age_seconds
            if env is not None and env.deploy is not None
            else DEFAULT_MAX_AUTH_AGE
        )
        problem = step_up_problem(who.auth_time, max_age, b.clock(), b.settings.leeway_seconds)
        if problem is not None:
            b._deny(audit, who, "step_up_required", problem, env.uid if env else None)
            raise InsufficientUserAuthentication(problem, max_age)

    def _revoke_sessions(self, obj: dict[str, Any]) -> None:
        """The request's sessions, deleted before the answer (accessrequests/sessions.py)."""
        sessions = getattr(self._b, "request_sessions", None)
        if sessions is not None:
            sessions.revoke(obj)

    def _record(
        self,
        before: dict[str, Any],
        after: dict[str, Any],
        who: Identity | None,
        request_id: str,
        why: str,
    ) -> None:
        change = r.change_of(before, after)
        if change is None:
            return
        b = self._b
        b.auditor.line(change_record(after, change, who, request_id, why))
        b.auditor.event(change_event(after, change, who, request_id, self._now()))
        if change.outcome == "approval":
            return  # no notification type: the request is still pending
        spec, status = r.spec_of(after), r.status_of(after)
        b.notify(
            f"request.{change.outcome}",
            environment=r.environment(after),
            name=r.name_of(after),
            user=who.username if who else r.requester(after),
            requester=r.requester(after),
            justification=why,
            level=r.level(after),
            phase=r.phase(after),
            approvals=len(r.approvals(after)),
            approvals_required=status.get("approvalsRequired"),
            namespaces=list(spec.get("namespaces") or []),
            duration_seconds=spec.get("durationSeconds"),
            expires_at=status.get("expiresAt"),
        )


def _shown(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as kubectl shows it: without managedFields."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "managedFields"})
    return obj


def _error(refused: r.Refused) -> Conflict | Forbidden:
    return Conflict(refused.message) if refused.kind == "conflict" else Forbidden(refused.message)

"""Promotion use cases (docs/api.md, "Promotions"): create, read, run steps, approve, resume.

Every gate is decided here, by the backend, from the Promotion on mgmt and the backend's
own reads of the targets: a client that skips steps gets nothing. Decisions are the pure
functions of gates.py, records.py and checks.py; this module reads, decides and writes
(optimistic concurrency, store.py), and turns each phase change into an audit line and an
Event on the Promotion.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

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
from scipian_backend.promotions import gates
from scipian_backend.promotions import records as r
from scipian_backend.promotions.bodies import CreateRequest, Report, digests_problem
from scipian_backend.promotions.events import change_event, change_record
from scipian_backend.promotions.lock import Held, ReleaseLock
from scipian_backend.promotions.store import NameTaken, PromotionStore, Unchanged
from scipian_backend.promotions.verify import StepVerifier
from scipian_backend.ratelimit import READ
from scipian_backend.usecases import Audit, Backend

RESOURCE = "promotions.scipian.io"


def forbidden_read(who: Identity, verb: str, name: str | None) -> Forbidden:
    """kubectl's wording, so that the plugin can print it as kubectl would."""
    subject = f'{RESOURCE} "{name}"' if name else RESOURCE
    return Forbidden(
        f'{subject} is forbidden: User "{who.username}" cannot {verb} resource "promotions" '
        'in API group "scipian.io" at the cluster scope'
    )


class Promotions:
    def __init__(
        self,
        backend: Backend,
        store: PromotionStore,
        lock: ReleaseLock,
        verifier: StepVerifier,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._b = backend
        self._store = store
        self._lock = lock
        self._verifier = verifier
        self._now = now
        self._pool = ThreadPoolExecutor(8, "scipian-promotions")

    # --- reads --------------------------------------------------------------------------

    def list(self, authorization: str | None, request_id: str) -> dict[str, Any]:
        who = self._b._authenticate(authorization, request_id, READ)
        if not self._b.authorizer.allowed_on(who, "list", "promotions"):
            raise forbidden_read(who, "list", None)
        items = self._store.list()
        return {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": items,
        }

    def get(self, name: str, authorization: str | None, request_id: str) -> dict[str, Any]:
        who = self._b._authenticate(authorization, request_id, READ)
        if not self._b.authorizer.allowed_on(who, "get", "promotions", name):
            raise forbidden_read(who, "get", name)
        return self._get(name)

    # --- create -------------------------------------------------------------------------

    def create(
        self, req: CreateRequest, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        b = self._b
        audit = Audit(request_id, req.through[0], "deploy", req.justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        allowed = list(self._pool.map(lambda e: b.authorizer.may_deploy(who, e), req.through))
        for env_id, ok in zip(req.through, allowed, strict=True):
            if not ok:
                b._deny(
                    audit._replace(environment=env_id), who, "forbidden", "RBAC denied (promotion)"
                )
                raise Forbidden(f"{who.username} may not deploy to environment {env_id}")
        envs = list(self._pool.map(b.store.get, req.through))
        for env_id, env in zip(req.through, envs, strict=True):
            if env is None:
                b._deny(audit._replace(environment=env_id), who, "not_found", "no such Environment")
                raise NotFound(f"no environment {env_id}")
        chain: list[Environment] = [e for e in envs if e is not None]
        for env in chain:
            if env.deploy is None or req.namespace not in env.deploy.namespaces:
                why = f"{env.id} does not deploy to namespace {req.namespace}"
                b._deny(audit._replace(environment=env.id), who, "forbidden", why, env.uid)
                raise Forbidden(f"{who.username} may not deploy to environment {env.id}")
        problem = digests_problem(req) or gates.order_problem(
            req.through, {e.id: e.deploy.require_promotion_from for e in chain if e.deploy}
        )
        if problem is not None:
            raise BadRequest(problem)
        strictest = min(chain, key=lambda e: e.deploy.max_auth_age_seconds if e.deploy else 0)
        b.check_step_up(strictest, who, audit._replace(environment=strictest.id))
        now = self._now()
        spec: dict[str, Any] = {
            "release": req.release,
            "namespace": req.namespace,
            "chart": req.chart,
            "through": req.through,
            "valuesDigests": req.values_digests,
            "soakSeconds": req.soak_seconds,
            "timeoutSeconds": req.timeout_seconds,
            "initiator": {"user": who.username, "groups": list(who.groups)},
            "justification": req.justification,
        }
        status = r.initial_status(
            req.through,
            {e.id: e.deploy.approvals_required for e in chain if e.deploy},
            now,
        )
        created = self._create(spec, req)
        name = created["metadata"]["name"]
        _, after = self._store.update_status(name, lambda _: status)
        self._record({}, after, who, request_id)
        return after

    def _create(self, spec: dict[str, Any], req: CreateRequest) -> dict[str, Any]:
        for _ in range(5):
            name = r.new_name(req.release)
            try:
                self._lock.acquire(req.namespace, req.release, name, self._state_of)
            except Held as held:
                raise Conflict(self._held_message(held.holder, req)) from None
            try:
                return self._store.create(r.new_promotion(name, spec))
            except NameTaken:
                self._lock.release(req.namespace, req.release, name)
            except BaseException:
                self._lock.release(req.namespace, req.release, name)
                raise
        raise ServiceUnavailable("could not name the promotion; try again")

    def _state_of(self, name: str) -> str:
        promo = self._store.get(name)
        if promo is None:
            return "gone"
        if not r.steps_of(promo) and r.abandoned(promo, self._now()):
            return "finished"  # created, but its creator died before writing its status
        return "finished" if r.finished(promo) else "active"

    def _held_message(self, holder: str, req: CreateRequest) -> str:
        release = f"{req.namespace}/{req.release}"
        promo = self._store.get(holder) if holder else None
        if promo is None or not r.phase(promo):
            who = f"promotion {holder}" if holder else "another promotion"
            return f"{who} of {release} is being created; wait for it"
        return f"promotion {holder} of {release} is still {r.phase(promo)}; resume or wait for it"

    # --- steps --------------------------------------------------------------------------

    def step_kubeconfig(
        self, name: str, env_id: str, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        b = self._b
        promo, i, who, audit = self._initiator_step(name, env_id, authorization, request_id)
        if not b.authorizer.may_deploy(who, env_id):
            b._deny(audit, who, "forbidden", "RBAC denied (promotion step)")
            raise Forbidden(f"{who.username} may not deploy to environment {env_id}")
        env, target = b._lookup(env_id)
        if env is None:
            b._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        gate = gates.step_gate(promo, i)
        if gate is not None and gate.kind == "conflict":
            raise Conflict(gate.message)
        promo = self._step_up(promo, env, who, audit, request_id)
        if gate is not None and gate.kind == "forbidden":
            b._deny(audit, who, "forbidden", gate.message, env.uid)
            raise Forbidden(gate.message)
        if i > 0:
            self._reverify(promo, i - 1, who, audit, request_id)
        if gate is not None and gate.kind == "approval":
            if r.steps_of(promo)[i].get("phase") != r.AWAITING:
                self._write(
                    name,
                    lambda p: _if_phase(p, i, (r.PENDING,), r.await_approval(r.status_of(p), i)),
                    who,
                    request_id,
                )
            b._deny(audit, who, "forbidden", gate.message, env.uid)
            raise Forbidden(gate.message)
        spec = promo["spec"]
        deploying = r.steps_of(promo)[i].get("phase") == r.DEPLOYING
        previous = (
            None if deploying else self._verifier.revision(env, spec["namespace"], spec["release"])
        )

        def start(p: dict[str, Any]) -> dict[str, Any] | None:
            again = gates.step_gate(p, i)
            if again is not None:  # changed since it was read: refuse, as a fresh read would
                raise (Conflict if again.kind == "conflict" else Forbidden)(again.message)
            return r.start_step(r.status_of(p), i, self._now(), previous)

        self._write(name, start, who, request_id)
        return b.mint(env, target, who, audit, promotion=name)

    def report(
        self, name: str, env_id: str, report: Report, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        promo, i, who, _ = self._initiator_step(name, env_id, authorization, request_id)
        step = r.steps_of(promo)[i]
        if step.get("phase") != r.DEPLOYING or r.finished(promo):
            raise Conflict(
                f"step {env_id} of promotion {name} is {step.get('phase')}, not Deploying"
            )
        env = self._env(env_id)
        spec = promo["spec"]
        if report.helm_exit_code != 0:
            revision = self._verifier.revision(env, spec["namespace"], spec["release"])
            message = f"helm: {report.message or f'exit code {report.helm_exit_code}'}"

            def failed(p: dict[str, Any]) -> dict[str, Any] | None:
                _require(p, i, (r.DEPLOYING,))
                return r.fail_step(r.status_of(p), i, message, self._now(), revision)

            return self._write(name, failed, who, request_id)

        def verifying(p: dict[str, Any]) -> dict[str, Any] | None:
            _require(p, i, (r.DEPLOYING,))
            return r.to_verifying(r.status_of(p), i)

        self._write(name, verifying, who, request_id)
        return self._verify_once(name, i, env, who, request_id)

    def verify(
        self, name: str, env_id: str, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        promo, i, who, _ = self._initiator_step(name, env_id, authorization, request_id)
        phase = r.steps_of(promo)[i].get("phase")
        if phase in (r.SUCCEEDED, r.FAILED) or (r.finished(promo) and phase != r.VERIFYING):
            return promo
        if phase != r.VERIFYING or r.finished(promo):
            raise Conflict(f"step {env_id} of promotion {name} is {phase}, not Verifying")
        return self._verify_once(name, i, self._env(env_id), who, request_id)

    def _verify_once(
        self, name: str, i: int, env: Environment, who: Identity, request_id: str
    ) -> dict[str, Any]:
        promo = self._get(name)
        verdict = self._verifier.verify(env, promo)
        spec = promo["spec"]

        def apply(p: dict[str, Any]) -> dict[str, Any] | None:
            if r.finished(p) or r.steps_of(p)[i].get("phase") != r.VERIFYING:
                raise Unchanged(p)
            return r.apply_verdict(
                r.status_of(p),
                i,
                verdict,
                self._now(),
                int(spec.get("soakSeconds") or 0),
                int(spec.get("timeoutSeconds") or 300),
            )

        return self._write(name, apply, who, request_id)

    # --- approvals, resume --------------------------------------------------------------

    def approve(
        self,
        name: str,
        env_id: str,
        justification: str,
        authorization: str | None,
        request_id: str,
    ) -> dict[str, Any]:
        b = self._b
        audit = Audit(request_id, env_id, "deploy", justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        if not b.authorizer.may_approve(who, env_id):
            b._deny(audit, who, "forbidden", "RBAC denied (approval)")
            raise Forbidden(f"{who.username} may not approve on environment {env_id}")
        self._may_read(who, name, audit)
        promo = self._get(name)
        i = self._index(promo, env_id)
        gate = gates.approval_problem(promo, i, who.username)
        if gate is not None:
            b._deny(audit, who, gate.kind, gate.message)
            raise (Conflict if gate.kind == "conflict" else Forbidden)(gate.message)
        env = self._env(env_id)
        b.check_step_up(env, who, audit)
        gate = gates.already_approved(promo, i, who.username)
        if gate is not None:
            raise Conflict(gate.message)

        def add(p: dict[str, Any]) -> dict[str, Any] | None:
            again = gates.approval_problem(p, i, who.username) or gates.already_approved(
                p, i, who.username
            )
            if again is not None:
                raise (Conflict if again.kind == "conflict" else Forbidden)(again.message)
            return r.add_approval(r.status_of(p), i, who.username, justification, self._now())

        return self._write(name, add, who, request_id)

    def resume(
        self, name: str, identity: str, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        b = self._b
        who = b._authenticate(authorization, Audit(request_id, None, "deploy"))
        self._may_read(who, name, Audit(request_id, None, "deploy", "", who.auth_time))
        promo = self._get(name)
        if who.username != r.initiator(promo):
            raise Forbidden(f"only {r.initiator(promo)} may resume promotion {name}")
        if r.finished(promo):
            raise Conflict(
                f"promotion {name} is {r.phase(promo)}; a fixed chart goes out as a new promotion"
            )
        if (promo["spec"].get("chart") or {}).get("identity") != identity:
            raise Conflict("chart identity differs from the promotion's")
        first = r.first_open_step(promo)
        if first is None:
            return promo
        step_env = self._env(r.steps_of(promo)[first]["environment"])
        audit = Audit(request_id, step_env.id, "deploy", str(promo["spec"].get("justification")))
        audit = audit._replace(auth_time=who.auth_time)
        promo = self._step_up(promo, step_env, who, audit, request_id)
        if first > 0:
            self._reverify(promo, first - 1, who, audit, request_id, refuse=False)
        return self._get(name)

    # --- shared -------------------------------------------------------------------------

    def _get(self, name: str) -> dict[str, Any]:
        promo = self._store.get(name)
        if promo is None or not r.steps_of(promo):
            raise NotFound(f'{RESOURCE} "{name}" not found')
        return promo

    def _env(self, env_id: str) -> Environment:
        env = self._b.store.get(env_id)
        if env is None:
            raise NotFound(f"no environment {env_id}")
        return env

    def _index(self, promo: dict[str, Any], env_id: str) -> int:
        i = r.step_index(promo, env_id)
        if i is None:
            raise NotFound(f"promotion {promo['metadata']['name']} has no step {env_id}")
        return i

    def _may_read(self, who: Identity, name: str, audit: Audit) -> None:
        """RBAC `get promotions` (name) before anything says whether the promotion exists,
        which environments its chain holds or who started it: a caller without it gets
        kubectl's 403, the same for a missing promotion as for an existing one."""
        if not self._b.authorizer.allowed_on(who, "get", "promotions", name):
            self._b._deny(audit, who, "forbidden", "RBAC denied (promotion read)")
            raise forbidden_read(who, "get", name)

    def _initiator_step(
        self, name: str, env_id: str, authorization: str | None, request_id: str
    ) -> tuple[dict[str, Any], int, Identity, Audit]:
        b = self._b
        audit = Audit(request_id, env_id, "deploy", "")
        who = b._authenticate(authorization, audit)
        self._may_read(who, name, audit._replace(auth_time=who.auth_time))
        promo = self._get(name)
        audit = audit._replace(
            auth_time=who.auth_time, justification=str(promo["spec"].get("justification") or "")
        )
        i = self._index(promo, env_id)
        if who.username != r.initiator(promo):
            b._deny(audit, who, "forbidden", f"not the initiator of promotion {name}")
            raise Forbidden(f"only {r.initiator(promo)} runs the steps of promotion {name}")
        return promo, i, who, audit

    def _step_up(
        self,
        promo: dict[str, Any],
        env: Environment,
        who: Identity,
        audit: Audit,
        request_id: str,
    ) -> dict[str, Any]:
        """Within stepUpExpires any valid login will do; after it, a fresh one, which
        extends the cover by 24 hours."""
        now = self._now()
        expires = r.parse_stamp(r.status_of(promo).get("stepUpExpires"))
        if expires is not None and now < expires:
            return promo
        age = env.deploy.max_auth_age_seconds if env.deploy else 300
        problem = step_up_problem(
            who.auth_time, age, now.timestamp(), self._b.settings.leeway_seconds
        )
        if problem is not None:
            self._b._deny(audit, who, "step_up_required", problem, env.uid)
            raise InsufficientUserAuthentication(problem, age)
        name = promo["metadata"]["name"]
        return self._write(name, lambda p: r.extend_step_up(r.status_of(p), now), who, request_id)

    def _reverify(
        self,
        promo: dict[str, Any],
        j: int,
        who: Identity,
        audit: Audit,
        request_id: str,
        refuse: bool = True,
    ) -> None:
        """Step j (Succeeded) verified again now, on its target: a stale verification
        fails the promotion."""
        step = r.steps_of(promo)[j]
        prev_env = self._env(step["environment"])
        verdict = self._verifier.verify(prev_env, promo)
        if verdict.state == "ok":
            return
        name = promo["metadata"]["name"]
        message = f"{prev_env.id} no longer verified: {verdict.message}"
        if verdict.state == "failed":
            self._write(
                name,
                lambda p: None if r.finished(p) else r.fail_promotion(r.status_of(p), message),
                who,
                request_id,
            )
            message += f" (promotion {name} is now Failed)"
        if refuse:
            self._b._deny(audit, who, "forbidden", message)
            raise Forbidden(message)

    def _write(
        self,
        name: str,
        transition: Callable[[dict[str, Any]], dict[str, Any] | None],
        who: Identity | None,
        request_id: str,
    ) -> dict[str, Any]:
        try:
            before, after = self._store.update_status(name, transition)
        except Unchanged as same:
            return same.promo
        self._record(r.status_of(before), after, who, request_id)
        return after

    def _record(
        self, before: dict[str, Any], after: dict[str, Any], who: Identity | None, request_id: str
    ) -> None:
        now = self._now()
        for change in r.changes(before, r.status_of(after)):
            self._b.auditor.line(change_record(after, change, who, request_id))
            self._b.auditor.event(change_event(after, change, who, request_id, now))
            if not change.environment and change.new in r.TERMINAL:
                self._b.metrics.promotion(change.new)


def _require(promo: dict[str, Any], i: int, phases: tuple[str, ...]) -> None:
    phase = r.steps_of(promo)[i].get("phase")
    if r.finished(promo) or phase not in phases:
        env = r.steps_of(promo)[i].get("environment")
        raise Conflict(f"step {env} of promotion {promo['metadata']['name']} is {phase}")


def _if_phase(
    promo: dict[str, Any], i: int, phases: tuple[str, ...], status: dict[str, Any]
) -> dict[str, Any] | None:
    return status if r.steps_of(promo)[i].get("phase") in phases and not r.finished(promo) else None

"""Promotion use cases (docs/api.md, "Promotions"): create, read, watch, approve, cancel.

This service only accepts, authorizes and records; the backend's executor (executor.py,
run by the worker room) makes every other change. Its writes, by the single writer rule
(change.md §5): the creation (spec, values Secret, initial status with each step's
`renderDigest`), approvals (and a step's AwaitingApproval -> Pending once they are met),
and `status.cancelRequest` (the cancel route and pre-emption). Decisions are the pure
functions of gates.py, records.py and bodies.py; writes use optimistic concurrency
(store.py), and each phase change becomes an audit line and an Event on the Promotion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.environments.store import Environment
from scipian_backend.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
)
from scipian_backend.helmrun import HelmBusy
from scipian_backend.helmrun.render import capabilities, render_digest
from scipian_backend.helmrun.sandbox import ScratchFull
from scipian_backend.identity.authn import Identity
from scipian_backend.kube import status_of
from scipian_backend.promotions import gates
from scipian_backend.promotions import records as r
from scipian_backend.promotions.bodies import CreateRequest, scopes_problem
from scipian_backend.promotions.creation import (
    Capabilities,
    RenderRefused,
    render_step,
    uses_revision,
)
from scipian_backend.promotions.events import change_event, change_record, notification
from scipian_backend.promotions.lock import Held, ReleaseLock
from scipian_backend.promotions.store import NameTaken, PromotionStore, Unchanged
from scipian_backend.promotions.values import StepInputs, ValuesStore, inputs_digest, step_inputs
from scipian_backend.ratelimit import READ, TooManyRequests
from scipian_backend.releases.full import read_records, read_revision
from scipian_backend.usecases import Audit, Backend

# The class's `list` method shadows the builtin inside it: these name the types.
Chain = list[Environment]
Names = list[str]
T = TypeVar("T")
RESOURCE = "promotions.scipian.io"
FINALIZER = "scipian.io/executor"
DIFF_CHANGED = "the diff changed since you read it"
HOUR = timedelta(hours=1)


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
        values: ValuesStore,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._b = backend
        self._store = store
        self._lock = lock
        self._values = values
        self._now = now
        self._pool = ThreadPoolExecutor(8, "scipian-promotions")
        s = backend.settings
        # Long polls wait here, never in the routes' pool: at most N wait on mgmt at once;
        # a few more threads answer at once those that find every waiting slot taken.
        n = max(1, s.promotion_watches_per_replica)
        self._watches = threading.BoundedSemaphore(n)
        self._watching = s.promotion_watches_per_replica > 0
        self.watch_pool = ThreadPoolExecutor(n + 8, "scipian-promotion-watch")

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

    def watch(
        self, name: str, resource_version: str, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        """The long poll: the Promotion as soon as it differs from `resource_version`, or
        as it is after at most --promotion-watch-seconds (a bounded watch on mgmt). With
        every waiting slot of this replica taken, it answers at once (the client asks
        again), so that long polls never hold the routes' threads."""
        who = self._b._authenticate(authorization, request_id, READ)
        if not self._b.authorizer.allowed_on(who, "get", "promotions", name):
            raise forbidden_read(who, "get", name)
        promo = self._get(name)
        if promo["metadata"].get("resourceVersion") != resource_version or r.finished(promo):
            return promo
        if not self._watching or not self._watches.acquire(blocking=False):
            return promo
        try:
            self._store.wait_change(
                name, resource_version, self._b.settings.promotion_watch_seconds
            )
        finally:
            self._watches.release()
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
        found = list(self._pool.map(b._lookup, req.through))
        for env_id, (env, _) in zip(req.through, found, strict=True):
            if env is None:
                b._deny(audit._replace(environment=env_id), who, "not_found", "no such Environment")
                raise NotFound(f"no environment {env_id}")
        chain: list[Environment] = [e for e, _ in found if e is not None]
        targets = [t for _, t in found]
        for env in chain:
            if env.deploy is None or req.namespace not in env.deploy.namespaces:
                why = f"{env.id} does not deploy to namespace {req.namespace}"
                b._deny(audit._replace(environment=env.id), who, "forbidden", why, env.uid)
                raise Forbidden(f"{who.username} may not deploy to environment {env.id}")
        # A rollback (change.md §7) is exempt from requirePromotionFrom: it goes back to
        # bytes that ran there already.
        problem = scopes_problem(req) or (
            None
            if req.rollback_to is not None
            else gates.order_problem(
                req.through, {e.id: e.deploy.require_promotion_from for e in chain if e.deploy}
            )
        )
        if problem is not None:
            raise BadRequest(problem)
        if req.break_glass:
            b.check_break_glass_grant(who, audit)
        strictest = min(chain, key=lambda e: e.deploy.max_auth_age_seconds if e.deploy else 0)
        b.check_step_up(strictest, who, audit._replace(environment=strictest.id))
        self._check_caps(who)
        for target in targets:
            if isinstance(target, ApiError):
                raise target
        apis = [t.api for t in targets]  # the broker's clients: discovery and records only
        if req.chart is not None:
            per_env = {e: step_inputs(req.values, req.sets, e) for e in req.through}
            digests = self._render_chart(req, chain, apis, per_env)
        else:
            per_env = {}
            digests = {chain[0].id: self._render_rollback(req, chain[0])}
        return self._create(req, who, chain, per_env, digests, request_id)

    def _check_caps(self, who: Identity) -> None:
        """5 unfinished promotions and 10 creations an hour per user (flags), counted on
        mgmt, so that every replica sees the same numbers."""
        s = self._b.settings
        mine = [p for p in self._store.list() if r.initiator(p) == who.username]
        active = [p for p in mine if not r.finished(p)]
        if len(active) >= s.promotion_active_per_user:
            raise TooManyRequests(
                f"{who.username} has {len(active)} unfinished promotions "
                f"(at most {s.promotion_active_per_user}); wait for one or cancel it",
                60,
            )
        since = self._now() - HOUR
        created = [r.parse_stamp((p.get("metadata") or {}).get("creationTimestamp")) for p in mine]
        recent = sorted(t for t in created if t is not None and t > since)
        if len(recent) >= s.promotion_creations_per_hour:
            wait = recent[-s.promotion_creations_per_hour] - since
            raise TooManyRequests(
                f"{who.username} created {len(recent)} promotions in the last hour "
                f"(at most {s.promotion_creations_per_hour})",
                max(1, int(wait.total_seconds()) + 1),
            )

    def _render_chart(
        self,
        req: CreateRequest,
        chain: Chain,
        targets: Sequence[Any],
        per_env: dict[str, StepInputs],
    ) -> dict[str, str]:
        """Every step's renderDigest, or 400 with a classified reason. Steps whose inputs
        and target capabilities are equal share one render."""
        b = self._b
        assert req.chart is not None
        helm = b.helm
        if helm is None:
            raise ServiceUnavailable("promotions need the backend's helm (serve --helm)")
        archive = b.artifacts.get(req.chart["digest"])
        if archive is None:
            raise BadRequest(f"chart {req.chart['digest']} is not uploaded (or has expired)")
        if (archive.name, archive.version) != (req.chart["name"], req.chart["version"]):
            raise BadRequest(
                f"chart {req.chart['digest']} is {archive.name} {archive.version}, "
                f"not {req.chart['name']} {req.chart['version']}"
            )
        if uses_revision(archive.data):
            raise BadRequest(
                "rendering failed: the chart's templates read .Release.Revision, which is "
                "only known when helm runs"
            )

        def caps_of(pair: tuple[Environment, Any]) -> Capabilities:
            env, target = pair
            with _target_errors(env):
                kube_version, api_versions = capabilities(target)
            exists = bool(
                self._read_release(env, lambda api: read_records(api, req.namespace, req.release))
            )
            return Capabilities(kube_version, tuple(api_versions), exists)

        caps = list(self._pool.map(caps_of, zip(chain, targets, strict=True)))
        timeout = b.settings.promotion_render_timeout_seconds
        done: dict[tuple[str, Capabilities], str] = {}
        out: dict[str, str] = {}
        for env, cap in zip(chain, caps, strict=True):
            key = (inputs_digest(per_env[env.id]), cap)
            if key not in done:
                try:
                    done[key] = render_step(
                        helm, req.release, req.namespace, archive.data, per_env[env.id], cap,
                        timeout,
                    )  # fmt: skip
                except RenderRefused as e:
                    raise BadRequest(f"{env.id}: {e.reason}") from None
                except (HelmBusy, ScratchFull):
                    raise ServiceUnavailable("the backend's helm is busy; try again") from None
            out[env.id] = done[key]
        return out

    def _read_release(self, env: Environment, fn: Callable[[Any], T]) -> T:
        """`fn(the release reader's client)`: release records are read with the reader's
        credential (the broker reads no Secrets), afresh once when its token was refused."""
        reader = self._b.release_reader
        if reader is None:
            raise ServiceUnavailable("release reads are not configured")
        for attempt in (1, 2):
            try:
                with _target_errors(env):
                    return fn(reader.api(env))
            except ServiceUnavailable:
                if attempt == 2:
                    raise
                reader.forget(env)
        raise AssertionError("unreachable")

    def _render_rollback(self, req: CreateRequest, env: Environment) -> str:
        """A rollback's desired side is the revision's own manifest and hooks (§7)."""
        assert req.rollback_to is not None
        rev = req.rollback_to
        record = self._read_release(
            env, lambda api: read_revision(api, req.namespace, req.release, rev)
        )
        if record is None:
            raise NotFound(
                f"release {req.namespace}/{req.release} has no revision {req.rollback_to} "
                f"on {env.id}"
            )
        return render_digest(record.manifest, record.hooks)

    def _create(
        self,
        req: CreateRequest,
        who: Identity,
        chain: Chain,
        per_env: dict[str, StepInputs],
        digests: dict[str, str],
        request_id: str,
    ) -> dict[str, Any]:
        now = self._now()
        spec: dict[str, Any] = {
            "release": req.release,
            "namespace": req.namespace,
            "through": req.through,
            "soakSeconds": req.soak_seconds,
            "timeoutSeconds": req.timeout_seconds,
            "initiator": {"user": who.username, "groups": list(who.groups)},
            "justification": req.justification,
        }
        if req.chart is not None:
            spec["chart"] = dict(req.chart)
            spec["valuesDigests"] = {e: inputs_digest(i) for e, i in per_env.items()}
        else:
            spec["rollbackTo"] = req.rollback_to
            spec["breakGlass"] = req.break_glass
        required = {
            e.id: 0 if req.break_glass else (e.deploy.approvals_required if e.deploy else 0)
            for e in chain
        }
        status = r.initial_status(req.through, required, now)
        stamp = r.now_stamp(now)
        status["lastTransition"] = stamp
        for step in status["steps"]:
            step["renderDigest"] = digests[step["environment"]]
            if step["phase"] == r.AWAITING:
                step["awaitingSince"] = stamp
        created = self._claim_and_create(spec, req, who)
        name = created["metadata"]["name"]
        try:
            if per_env:
                self._values.save(name, per_env, created["metadata"].get("uid", ""))
            _, after = self._store.update_status(name, lambda _: status)
        except BaseException:
            self._store.delete(name)  # its finalizer is ours to drop: nothing ran yet
            self._lock.release(req.namespace, req.release, name)
            raise
        self._record({}, after, who, request_id)
        return after

    def _claim_and_create(
        self, spec: dict[str, Any], req: CreateRequest, who: Identity
    ) -> dict[str, Any]:
        """The release lock, then the object (with the executor's finalizer). An active
        holder whose chain is a strict subset of this one is pre-empted: its cancelRequest
        says so, the lock passes to the new promotion, and `spec.preempts` names the old
        one, whose end the executor awaits before running a step of the new one."""
        for _ in range(5):
            name = r.new_name(req.release)
            preempted = ""
            try:
                self._lock.acquire(req.namespace, req.release, name, self._state_of)
            except Held as held:
                old = self._preemptable(held.holder, req)
                if old is None:
                    raise Conflict(self._held_message(held.holder, req)) from None
                self._request_cancel(old, who, req.justification, f"pre-empted by {name}")
                preempted = held.holder
                try:
                    self._lock.acquire(req.namespace, req.release, name, self._state_but(preempted))
                except Held as again:
                    raise Conflict(self._held_message(again.holder, req)) from None
            body = r.new_promotion(
                name, dict(spec, **({"preempts": preempted} if preempted else {}))
            )
            body["metadata"]["finalizers"] = [FINALIZER]
            try:
                return self._store.create(body)
            except NameTaken:
                self._lock.release(req.namespace, req.release, name)
            except BaseException:
                self._lock.release(req.namespace, req.release, name)
                raise
        raise ServiceUnavailable("could not name the promotion; try again")

    def _preemptable(self, holder: str, req: CreateRequest) -> dict[str, Any] | None:
        """The holder, when the new chain strictly contains its chain (every environment
        of which the new initiator was just allowed to deploy to)."""
        promo = self._store.get(holder) if holder else None
        if promo is None or r.finished(promo) or not r.steps_of(promo):
            return None
        spec = promo.get("spec") or {}
        if (spec.get("namespace"), spec.get("release")) != (req.namespace, req.release):
            return None
        old = set(spec.get("through") or [])
        return promo if old < set(req.through) else None

    def _state_but(self, preempted: str) -> Callable[[str], str]:
        """_state_of, with the pre-empted holder counted as finished: its lock passes on."""
        return lambda n: "finished" if n == preempted else self._state_of(n)

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
        return (
            f"promotion {holder} of {release} is still {r.phase(promo)}; wait for it or cancel it"
        )

    # --- approvals ----------------------------------------------------------------------

    def approve(
        self,
        name: str,
        env_id: str,
        justification: str,
        diff_digest: str,
        authorization: str | None,
        request_id: str,
    ) -> dict[str, Any]:
        b = self._b
        who, audit = b.require_approve(
            authorization, Audit(request_id, env_id, "deploy", justification), "approval"
        )
        self._may_read(who, name, audit)
        promo = self._get(name)
        i = self._index(promo, env_id)
        gate = gates.approval_problem(promo, i, who.username)
        if gate is not None:
            b._deny(audit, who, gate.kind, gate.message)
            raise (Conflict if gate.kind == "conflict" else Forbidden)(gate.message)
        env = self._env(env_id)
        b.check_step_up(env, who, audit)
        gate = gates.already_approved(promo, i, who.username) or gates.digest_problem(
            promo, i, diff_digest
        )
        if gate is not None:
            b._deny(audit, who, gate.kind, gate.message, env.uid)
            raise Conflict(gate.message)

        def add(p: dict[str, Any]) -> dict[str, Any] | None:
            again = (
                gates.approval_problem(p, i, who.username)
                or gates.already_approved(p, i, who.username)
                or gates.digest_problem(p, i, diff_digest)
            )
            if again is not None:
                raise (Conflict if again.kind == "conflict" else Forbidden)(again.message)
            now = self._now()
            before = r.steps_of(p)[i].get("phase")
            status = r.add_approval(r.status_of(p), i, who.username, justification, now)
            step = status["steps"][i]
            step["approvals"][-1]["diffDigest"] = diff_digest
            if step.get("phase") != before:
                status["lastTransition"] = r.now_stamp(now)
            return status

        return self._write(name, add, who, request_id)

    # --- cancel -------------------------------------------------------------------------

    def cancel(
        self, name: str, justification: str, authorization: str | None, request_id: str
    ) -> dict[str, Any]:
        """Records the request (status.cancelRequest); the executor enacts it. Allowed to
        the initiator, to whoever may deploy to every environment of the chain, or with
        `update` on `promotions/cancel` (name = the promotion)."""
        b = self._b
        audit = Audit(request_id, None, "deploy", justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        self._may_read(who, name, audit)
        promo = self._get(name)
        through = list((promo.get("spec") or {}).get("through") or [])
        audit = audit._replace(environment=through[0] if through else None)
        if not self._may_cancel(who, promo, through):
            b._deny(audit, who, "forbidden", f"RBAC denied (cancel of promotion {name})")
            raise Forbidden(f"{who.username} may not cancel promotion {name}")
        if r.finished(promo):
            raise Conflict(f"promotion {name} is {r.phase(promo)}")
        envs = [e for e in (b.store.get(x) for x in through) if e is not None and e.deploy]
        if envs:
            strictest = min(envs, key=lambda e: e.deploy.max_auth_age_seconds if e.deploy else 0)
            b.check_step_up(strictest, who, audit._replace(environment=strictest.id))
        return self._request_cancel(promo, who, justification, f"cancelled by {who.username}")

    def _may_cancel(self, who: Identity, promo: dict[str, Any], through: Names) -> bool:
        if who.username == r.initiator(promo):
            return True
        authz = self._b.authorizer
        name = promo["metadata"]["name"]
        if through and all(self._pool.map(lambda e: authz.may_deploy(who, e), through)):
            return True
        return authz.allowed_on(who, "update", "promotions", name, "cancel")

    def _request_cancel(
        self, promo: dict[str, Any], who: Identity, justification: str, reason: str
    ) -> dict[str, Any]:
        """Writes status.cancelRequest once (the first request stands); audited."""
        name = promo["metadata"]["name"]
        now = self._now()

        def request(p: dict[str, Any]) -> dict[str, Any] | None:
            status = r.status_of(p)
            if r.finished(p) or status.get("cancelRequest"):
                raise Unchanged(p)
            out = dict(status)
            out["cancelRequest"] = {
                "user": who.username,
                "justification": justification,
                "time": r.now_stamp(now),
                "reason": reason,
            }
            return out

        try:
            _, after = self._store.update_status(name, request)
        except Unchanged as same:
            return same.promo
        change = r.Change("", r.phase(after), "CancelRequested", reason)
        self._b.auditor.line(change_record(after, change, who, ""))
        self._b.auditor.event(change_event(after, change, who, "", now))
        return after

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
            said = notification(after, change, who)
            if said is not None:
                self._b.notify(said[0], **said[1])


@contextmanager
def _target_errors(env: Environment) -> Iterator[None]:
    """A target's refusal or silence, in the API's words (never its body)."""
    try:
        yield
    except ApiException as e:
        raise ServiceUnavailable(
            f"environment {env.id}: the cluster answered HTTP {status_of(e) or 'error'}"
        ) from None
    except (HTTPError, ValueError):
        raise ServiceUnavailable(f"environment {env.id}: cluster unreachable") from None

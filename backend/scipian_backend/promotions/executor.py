"""The promotion executor: every step of every promotion, run by the backend (change.md §5).

A `WorkKind` of the worker room (worker/): the room claims a promotion for this replica
(an execution Lease) and calls `turn`, which runs the §5 sequence for each runnable step
in order, within one turn:

1. the initiator's deploy right as recorded (SubjectAccessReview), the Environment's
   current gates (approvals = max(recorded, current); requirePromotionFrom; namespaces),
   the previous step re-verified on its target;
2. the step's pinned values against their recorded digest, the pinned chart archive;
3. a ServiceAccount of this (promotion, step), bound in the promotion's namespace only,
   its kubeconfig private to the helm workspace (step_identity.py);
4. `helm upgrade --install --dry-run=server`, refused unless its render digest is the
   approved `renderDigest`;
5. `helm upgrade --install --wait --rollback-on-failure` in the sandbox, watched for a
   cancel request (SIGTERM, then a rollback to the step's previousRevision);
6. verification of helm's own `-o json` at once, the soak re-checked every 2 s, then the
   next step. A failed step rolls its environment back and stops the chain.

A step found `Deploying` was left by a replica that died: its pending release is rolled
back (recovery.py) and the step runs again. Deadlines are deadlines.py's. The release
lock, the pinned values and the step identities go when the promotion finishes; then the
finalizer `scipian.io/executor` is removed (an object being deleted stops first).

Every status write is optimistic (store.update_status) and every phase change an audit
line and an Event. helm's own output never reaches a promotion field, an Event or a log
line above debug: failures are classified (failures.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.environments.store import Environment
from scipian_backend.errors import ApiError, InternalError
from scipian_backend.helmrun import HelmBusy, HelmResult, HelmSandbox, Workspace
from scipian_backend.helmrun.output import ReleaseOut, release_json
from scipian_backend.helmrun.render import config_digest, manifest_digest, objects, render_digest
from scipian_backend.identity.authn import Identity
from scipian_backend.kube import status_of
from scipian_backend.promotions import deadlines, failures, recovery
from scipian_backend.promotions import records as r
from scipian_backend.promotions.creation import values_files, write_chart
from scipian_backend.promotions.events import change_event, change_record, notification
from scipian_backend.promotions.lock import ReleaseLock
from scipian_backend.promotions.step_identity import StepIdentities, token_ttl
from scipian_backend.promotions.store import PromotionStore, Unchanged
from scipian_backend.promotions.values import StepInputs, ValuesStore, inputs_digest
from scipian_backend.promotions.verify import StepVerifier
from scipian_backend.releases.full import read_records, read_revision
from scipian_backend.usecases import Backend

log = logging.getLogger("scipian.executor")

SOAK_CHECK_SECONDS = 2.0  # the soak's re-check (change.md §5)
WAITING_RECHECK_SECONDS = 0.5  # before the first ok verdict: readiness just after helm --wait
WATCH_SECONDS = 1.0  # how often a running helm's promotion is re-read for a cancel request
CANCEL_GRACE_SECONDS = 30.0  # SIGTERM, then this long before the sandbox kills it
RENDER_TIMEOUT_SECONDS = 60.0  # the server-side dry run
RETRY_SECONDS = 5.0  # a step that could not start (helm busy, a target unreachable)
KILL_GRACE_SECONDS = 30.0  # beyond helm's own --timeout before the sandbox ends it


class StepStopped(Exception):
    """The step ended without success: the reason, and whether the environment may have
    changed (then it is rolled back)."""

    def __init__(self, reason: str, *, changed: bool = False, cancelled: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.changed = changed
        self.cancelled = cancelled


class Abandoned(Exception):
    """This replica lost its claim: it stops at once and writes nothing more."""


class Wait(Exception):
    """The step cannot start now; try again in `seconds` (nothing was changed)."""

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(why)
        self.seconds = seconds


@dataclass(frozen=True)
class Settings:
    limits: deadlines.Limits = field(default_factory=deadlines.Limits)
    soak_check_seconds: float = SOAK_CHECK_SECONDS
    watch_seconds: float = WATCH_SECONDS
    cancel_grace_seconds: float = CANCEL_GRACE_SECONDS


class PromotionExecutor:
    """The worker room's kind for Promotions (worker/: claims, turns)."""

    group = r.GROUP
    version = r.VERSION
    plural = r.PLURAL
    short = "promotion"

    def __init__(
        self,
        backend: Backend,
        store: PromotionStore,
        lock: ReleaseLock,
        verifier: StepVerifier,
        values: ValuesStore,
        helm: HelmSandbox,
        mgmt: client.ApiClient,
        *,
        replica: str,
        settings: Settings = Settings(),
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._b = backend
        self._store = store
        self._lock = lock
        self._verifier = verifier
        self._values = values
        self._helm = helm
        self._custom = client.CustomObjectsApi(mgmt)
        self._replica = replica
        self._s = settings
        self._now = now
        self._sleep = sleep
        self._ids = StepIdentities(
            backend.minter,
            backend.settings.sessions_namespace,
            backend.settings.http_timeout_seconds,
        )

    # --- the worker room's questions --------------------------------------------------------

    def wants(self, obj: dict[str, Any], now: datetime) -> bool:
        if r.deleting(obj) or r.finished(obj):
            return r.has_finalizer(obj)
        if not r.steps_of(obj):
            return False  # its creation has not written the status yet
        if r.cancel_request(obj) is not None:
            return True
        if deadlines.expired(obj, now, self._s.limits) is not None:
            return True
        i = deadlines.open_step(obj)
        return i is not None and r.steps_of(obj)[i].get("phase") in (
            r.PENDING,
            r.DEPLOYING,
            r.VERIFYING,
        )

    def turn(self, obj: dict[str, Any], claim: Any) -> float | None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        stop = threading.Event()

        def lost() -> None:
            # Another replica takes the work over once the Lease expires: no helm of ours
            # may still run then (a claim is lost when renewals fail, for every claim of
            # this replica alike, or when it stops), and nothing more is written.
            stop.set()
            self._helm.kill_all()

        claim.on_lost(lost)
        run = _Run(self, name, claim, stop)
        try:
            return run.turn()
        except Abandoned:
            log.info("promotion %s: claim lost; left to the replica that takes it", name)
            return None

    # --- shared by every run ----------------------------------------------------------------

    def write(
        self, name: str, transition: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """An optimistic status write; every phase change an audit line and an Event."""
        try:
            before, after = self._store.update_status(name, transition)
        except Unchanged as same:
            return same.promo
        self._record(r.status_of(before), after)
        return after

    def _record(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        now = self._now()
        request_id = f"executor/{self._replica}"
        for change in r.changes(before, r.status_of(after)):
            self._b.auditor.line(change_record(after, change, None, request_id))
            self._b.auditor.event(change_event(after, change, None, request_id, now))
            if not change.environment and change.new in r.TERMINAL:
                self._b.metrics.promotion(change.new)
            said = notification(after, change, None)
            if said is not None:
                self._b.notify(said[0], **said[1])

    def drop_finalizer(self, promo: dict[str, Any]) -> None:
        """Removes scipian.io/executor (a JSON patch guarded by a test of the list read)."""
        meta = promo.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if r.FINALIZER not in finalizers:
            return
        kept = [f for f in finalizers if f != r.FINALIZER]
        patch = [
            {"op": "test", "path": "/metadata/finalizers", "value": finalizers},
            {"op": "replace", "path": "/metadata/finalizers", "value": kept},
        ]
        try:
            self._custom.api_client.call_api(
                f"/apis/{r.GROUP}/{r.VERSION}/{r.PLURAL}/{meta.get('name')}",
                "PATCH",
                header_params={
                    "Content-Type": "application/json-patch+json",
                    "Accept": "application/json",
                },
                body=patch,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._b.settings.http_timeout_seconds,
            )
        except ApiException as e:
            if status_of(e) not in (404, 409, 422):  # gone, or changed: the next turn sees it
                raise

    def env(self, env_id: str) -> Environment | None:
        return self._b.store.get(env_id)

    def target(self, env: Environment) -> Any:
        return self._b.minter.target(env)

    def records_api(self, env: Environment) -> client.ApiClient:
        """Release records are read with the environment's release reader (least
        privilege: manifests/release-reader.yaml), never the broker's credential."""
        reader = self._b.release_reader
        if reader is None:
            raise InternalError("no release reader")
        return reader.api(env)


class _Run:
    """One turn on one promotion."""

    def __init__(self, ex: PromotionExecutor, name: str, claim: Any, stop: threading.Event):
        self.ex = ex
        self.name = name
        self.claim = claim
        self.stop = stop

    # --- the loop -------------------------------------------------------------------------

    def turn(self) -> float | None:
        ex = self.ex
        while not self.stop.is_set():
            promo = ex._store.get(self.name)
            if promo is None:
                return None
            if r.deleting(promo):
                self.finish(promo)
                return None
            if r.finished(promo):
                self.finish(promo)
                return None
            if not r.steps_of(promo):
                return None
            req = r.cancel_request(promo)
            if req is not None:
                self.cancel(promo, r.cancel_message(req))
                continue
            now = ex._now()
            due = deadlines.expired(promo, now, ex._s.limits)
            if due is not None:
                self.expire(promo, due)
                continue
            i = deadlines.open_step(promo)
            if i is None:
                return None
            phase = r.steps_of(promo)[i].get("phase")
            if phase == r.PENDING and self.preempted_runs(promo):
                return SOAK_CHECK_SECONDS  # the old promotion stops first (it is cancelled)
            try:
                if phase == r.AWAITING:
                    return deadlines.seconds_left(promo, now, ex._s.limits)
                if phase == r.PENDING:
                    self.run_step(promo, i)
                elif phase == r.DEPLOYING:
                    self.take_over(promo, i)
                elif phase == r.VERIFYING:
                    self.soak(promo, i, None)
                else:
                    return None
            except Wait as w:
                log.info("promotion %s: %s; again in %.0fs", self.name, w, w.seconds)
                left = deadlines.seconds_left(ex._store.get(self.name) or promo, now, ex._s.limits)
                return min(w.seconds, left) if left is not None else w.seconds
        return None

    def preempted_runs(self, promo: dict[str, Any]) -> bool:
        """Whether the promotion this one pre-empted (spec.preempts) has not finished: its
        replica is stopping it, and no step of this one runs on the release before."""
        old = str(r.spec_of(promo).get("preempts") or "")
        if not old:
            return False
        found = self.ex._store.get(old)
        return found is not None and not r.finished(found) and r.has_finalizer(found)

    # --- one step -------------------------------------------------------------------------

    def run_step(self, promo: dict[str, Any], i: int) -> None:
        ex = self.ex
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        env_id = str(step["environment"])
        env = self.gates(promo, i)
        if env is None:
            return  # failed, or back to AwaitingApproval
        if i > 0 and not self.reverify_previous(promo, i):
            return
        inputs: StepInputs | None = None
        archive = None
        if not r.is_rollback(promo):
            inputs = ex._values.load(self.name, env_id)
            expected = (spec.get("valuesDigests") or {}).get(env_id)
            if inputs is None or inputs_digest(inputs) != expected:
                self.fail(i, failures.VALUES)
                return
            archive = ex._b.artifacts.get(str((spec.get("chart") or {}).get("digest") or ""))
            if archive is None:
                self.fail(i, "the chart archive is no longer stored")
                return
        namespace, release = str(spec["namespace"]), str(spec["release"])
        previous = recovery.current_revision(read_records(ex.records_api(env), namespace, release))
        try:
            with ex._helm.workspace() as ws:
                chart = write_chart(ws, archive.data) if archive is not None else ""
                out = self.deploy(promo, i, env, ws, chart, inputs, previous)
        except HelmBusy:
            raise Wait(RETRY_SECONDS, "no helm slot free") from None
        except StepStopped as stopped:
            self.stopped(i, env, stopped)
            return
        self.soak(ex._store.get(self.name) or promo, i, out)

    def gates(self, promo: dict[str, Any], i: int) -> Environment | None:
        """The initiator's right and the Environment's gates as they are now."""
        ex = self.ex
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        env_id = str(step["environment"])
        initiator = spec.get("initiator") or {}
        who = Identity(
            username=str(initiator.get("user") or ""),
            groups=tuple(str(g) for g in initiator.get("groups") or []),
            subject="",
        )
        break_glass = r.is_rollback(promo) and spec.get("breakGlass") is True
        if not ex._b.authorizer.may_deploy(who, env_id) or (
            break_glass and not ex._b.authorizer.may_break_glass(who, env_id)
        ):
            self.fail(i, f"initiator may no longer deploy to {env_id}")
            return None
        env = ex.env(env_id)
        if env is None or env.deploy is None:
            self.fail(i, f"environment {env_id} no longer has a deploy level")
            return None
        namespace = str(spec.get("namespace"))
        if namespace not in env.deploy.namespaces:
            self.fail(i, f"{env_id} no longer deploys to namespace {namespace}")
            return None
        needed = env.deploy.require_promotion_from
        through = [str(s.get("environment")) for s in r.steps_of(promo)]
        if needed and not r.is_rollback(promo) and needed not in through[:i]:
            self.fail(i, f"{env_id} requires a promotion from {needed} (requirePromotionFrom)")
            return None
        required = max(int(step.get("approvalsRequired") or 0), env.deploy.approvals_required)
        if not break_glass and len(step.get("approvals") or []) < required:
            now = ex._now()
            ex.write(
                self.name,
                lambda p: _when(
                    p, i, (r.PENDING,), lambda s: r.await_approval(s, i, now, required)
                ),
            )
            return None
        return env

    def reverify_previous(self, promo: dict[str, Any], i: int) -> bool:
        ex = self.ex
        spec = r.spec_of(promo)
        prev = r.steps_of(promo)[i - 1]
        prev_id = str(prev["environment"])
        prev_env = ex.env(prev_id)
        if prev_env is None:
            self.fail(i, f"{prev_id} no longer verified: environment gone")
            return False
        verdict = ex._verifier.reverify(
            prev_env, ex.target(prev_env), str(spec["namespace"]), str(spec["release"]), prev
        )
        if verdict.state == "ok":
            return True
        if verdict.state == "waiting":
            ex.write(
                self.name, lambda p: _message(p, i, f"waiting for {prev_id}: {verdict.message}")
            )
            raise Wait(SOAK_CHECK_SECONDS, f"{prev_id} not verified yet")
        gone = f"{prev_id} no longer verified"
        why = verdict.message if verdict.message.startswith(gone) else f"{gone}: {verdict.message}"
        self.fail(i, why)
        return False

    def deploy(
        self,
        promo: dict[str, Any],
        i: int,
        env: Environment,
        ws: Workspace,
        chart: str,
        inputs: StepInputs | None,
        previous: int | None,
    ) -> ReleaseOut:
        """Identity, the server-side render compared, Deploying, helm; helm's release."""
        ex = self.ex
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        namespace, release = str(spec["namespace"]), str(spec["release"])
        timeout = deadlines.timeout_seconds(promo)
        with ex._ids.kubeconfig(env, self.name, namespace, ws, token_ttl(timeout)) as kubeconfig:
            approved = str(step.get("renderDigest") or "")
            if r.is_rollback(promo):
                wanted = int(spec["rollbackTo"])
                record = read_revision(ex.records_api(env), namespace, release, wanted)
                if record is None:
                    raise StepStopped(f"revision {wanted} of {release} is gone")
                if render_digest(record.manifest, record.hooks) != approved:
                    raise StepStopped(failures.DIFFERS)
                kinds = _kinds(record.manifest)
            else:
                assert inputs is not None
                args = chart_args(ws, release, namespace, chart, inputs)
                dry = self.helm(ws, ["upgrade", "--install", *args, "--dry-run=server",
                                     "--hide-notes", "-o", "json"], RENDER_TIMEOUT_SECONDS,
                                kubeconfig)  # fmt: skip
                if dry.code != 0:
                    raise StepStopped(failures.RENDERING)
                try:
                    rendered = release_json(dry.stdout)
                except ValueError:
                    raise StepStopped(failures.RENDERING) from None
                if render_digest(rendered.manifest, rendered.hooks) != approved:
                    raise StepStopped(failures.DIFFERS)
                kinds = _kinds(rendered.manifest)
            now = ex._now()
            ex.write(
                self.name,
                lambda p: _when(
                    p, i, (r.PENDING, r.DEPLOYING),
                    lambda s: r.start_step(s, i, now, previous, ex._replica),
                ),
            )  # fmt: skip
            started = ex._store.get(self.name) or promo
            if r.steps_of(started)[i].get("phase") != r.DEPLOYING:
                raise StepStopped("changed while starting")  # cancelled meanwhile
            left = _left(started, i, ex._now(), ex._s.limits)
            if left <= 0:
                raise StepStopped(failures.TIMEOUT, changed=False)
            if r.is_rollback(promo):
                argv = rollback_args(release, int(spec["rollbackTo"]), namespace, int(left))
            else:
                assert inputs is not None
                argv = ["upgrade", "--install", *args,
                        "--wait", "--rollback-on-failure", "--timeout", f"{int(left)}s",
                        "--hide-notes", "-o", "json"]  # fmt: skip
            cancel = threading.Event()
            done = self.watched(ws, argv, left + KILL_GRACE_SECONDS, kubeconfig, cancel)
            if self.stop.is_set():
                raise Abandoned()
            if done.reason == "cancelled" or (cancel.is_set() and done.code != 0):
                raise StepStopped("cancelled", changed=True, cancelled=self.why_cancelled())
            if done.code != 0:
                log.debug("promotion %s %s: helm: %s", self.name, env.id, done.stderr[-4096:])
                raise StepStopped(
                    failures.classify(done.code, done.stderr, done.reason, kinds), changed=True
                )
            try:
                out = release_json(done.stdout) if not r.is_rollback(promo) else None
                if out is None:
                    out = self.rolled_back(ws, env, namespace, release, kubeconfig)
            except ValueError:
                raise StepStopped("helm's answer was unreadable", changed=True) from None
        # the identity is gone: the step leaves Deploying
        ex.write(
            self.name,
            lambda p: _when(
                p, i, (r.DEPLOYING,),
                lambda s: r.to_verifying(
                    s, i, ex._now(), revision=out.revision,
                    manifest_digest=manifest_digest(out.manifest),
                    config_digest=config_digest(out.config),
                ),
            ),
        )  # fmt: skip
        return out

    def rolled_back(
        self, ws: Workspace, env: Environment, namespace: str, release: str, kubeconfig: str
    ) -> ReleaseOut:
        """A rollback's evidence: `helm status -o json` names the revision it made (its
        manifest); the record of that revision adds hooks and values, which status leaves
        out. Both must agree on the manifest."""
        status = self.helm(ws, ["status", release, "-n", namespace, "-o", "json"], 60.0, kubeconfig)
        if status.code != 0:
            raise StepStopped("release status unreadable after the rollback", changed=True)
        said = release_json(status.stdout)
        record = read_revision(self.ex.records_api(env), namespace, release, said.revision)
        if record is None or record.manifest != said.manifest:
            raise StepStopped(
                "verification: the rollback's record differs from helm's", changed=True
            )
        return ReleaseOut(
            name=release,
            namespace=namespace,
            revision=said.revision,
            status=said.status,
            manifest=said.manifest,
            hooks=list(record.hooks),
            config=dict(record.config),
            chart_name=record.chart_name,
            chart_version=record.chart_version,
        )

    def helm(
        self, ws: Workspace, argv: Sequence[str], timeout: float, kubeconfig: str
    ) -> HelmResult:
        done = self.ex._helm.run(ws, argv, timeout=timeout, kubeconfig=kubeconfig, cancel=None)
        if done.code != 0:
            log.debug("promotion %s: helm %s: %s", self.name, argv[0], done.stderr[-4096:])
        return done

    def watched(
        self,
        ws: Workspace,
        argv: Sequence[str],
        timeout: float,
        kubeconfig: str,
        cancel: threading.Event,
    ) -> HelmResult:
        """helm, while the promotion is re-read every second: a cancel request, a deletion
        or a lost claim sets `cancel` (the sandbox sends SIGTERM, then kills it)."""
        ex = self.ex
        finished = threading.Event()

        def watch() -> None:
            while not finished.wait(ex._s.watch_seconds):
                if self.stop.is_set():
                    cancel.set()
                    return
                try:
                    promo = ex._store.get(self.name)
                except ApiError:
                    continue
                if promo is None or r.deleting(promo) or r.cancel_request(promo) is not None:
                    cancel.set()
                    return

        watcher = threading.Thread(target=watch, name=f"scipian-watch-{self.name}", daemon=True)
        watcher.start()
        try:
            return ex._helm.run(ws, argv, timeout=timeout, kubeconfig=kubeconfig, cancel=cancel)
        finally:
            finished.set()
            watcher.join(5)

    def why_cancelled(self) -> str:
        promo = self.ex._store.get(self.name)
        if promo is None or r.deleting(promo):
            return "promotion deleted"
        req = r.cancel_request(promo)
        if req is not None:
            return r.cancel_message(req)
        raise Abandoned()

    # --- verification and the soak ----------------------------------------------------------

    def soak(self, promo: dict[str, Any], i: int, out: ReleaseOut | None) -> None:
        """Verification at once (helm's own output when this replica ran it), then the
        soak re-checked every 2 s; the step ends Succeeded, or Failed and rolled back."""
        ex = self.ex
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        env = ex.env(str(step["environment"]))
        if env is None:
            self.fail(i, f"environment {step['environment']} is gone")
            return
        namespace = str(spec["namespace"])
        soak = deadlines.soak_seconds(promo)
        first = True
        while not self.stop.is_set():
            if _stopping(self.claim):
                raise Abandoned()  # the replica stops: another continues the soak
            current = ex._store.get(self.name)
            if current is None or r.finished(current) or r.deleting(current):
                return
            step = r.steps_of(current)[i]
            if step.get("phase") != r.VERIFYING:
                return
            if r.cancel_request(current) is not None:
                return  # the loop cancels it (and rolls back)
            now = ex._now()
            if deadlines.expired(current, now, ex._s.limits) is not None:
                return  # the loop expires it
            target = ex.target(env)
            if first and out is not None:
                verdict = ex._verifier.after_run(env, target, namespace, out, step)
            else:
                verdict = ex._verifier.check(env, target, namespace, step, str(spec["release"]))
            first = False
            if verdict.state == "failed":
                # back where the step found it first: whoever sees Failed sees it done
                self.roll_back(current, i, env)
            after = ex.write(
                self.name,
                lambda p, v=verdict: _when(  # type: ignore[misc]
                    p, i, (r.VERIFYING,),
                    lambda s: r.apply_verdict(s, i, v, ex._now(), soak),
                ),
            )  # fmt: skip
            phase = r.steps_of(after)[i].get("phase")
            if phase == r.SUCCEEDED:
                return
            if phase == r.FAILED:
                return
            # Not yet verified (pods still coming up after helm's --wait): look again soon;
            # once verified, the soak re-checks at its own interval.
            again = ex._s.soak_check_seconds
            self.stop.wait(
                min(again, WAITING_RECHECK_SECONDS) if verdict.state == "waiting" else again
            )

    # --- ends -----------------------------------------------------------------------------

    def fail(self, i: int, reason: str) -> None:
        now = self.ex._now()
        self.ex.write(
            self.name,
            lambda p: None if r.finished(p) else r.fail_step(r.status_of(p), i, reason, now),
        )

    def stopped(self, i: int, env: Environment, stopped: StepStopped) -> None:
        """A step that ended early: Failed (or Cancelled), its environment rolled back when
        helm may have changed it."""
        ex = self.ex
        now = ex._now()
        if stopped.cancelled:
            promo = ex._store.get(self.name)
            if promo is not None and stopped.changed:
                self.roll_back(promo, i, env)
            ex.write(
                self.name,
                lambda p: (
                    None if r.finished(p) else r.cancel(r.status_of(p), stopped.cancelled, now)
                ),
            )
            return
        if stopped.reason == "changed while starting":
            return
        promo = ex._store.get(self.name)
        if promo is not None and stopped.changed:
            self.roll_back(promo, i, env)  # first: whoever sees Failed sees it done
        self.fail(i, stopped.reason)

    def cancel(self, promo: dict[str, Any], message: str) -> None:
        """A cancel request on a promotion not running helm here: a step that may have
        changed its environment (Deploying left by another replica, Verifying) is rolled
        back to its previousRevision first."""
        ex = self.ex
        i = deadlines.open_step(promo)
        if i is not None and r.steps_of(promo)[i].get("phase") in (r.DEPLOYING, r.VERIFYING):
            env = ex.env(str(r.steps_of(promo)[i]["environment"]))
            if env is not None:
                self.roll_back(promo, i, env)
        now = ex._now()
        ex.write(
            self.name, lambda p: None if r.finished(p) else r.cancel(r.status_of(p), message, now)
        )

    def expire(self, promo: dict[str, Any], due: deadlines.Due) -> None:
        ex = self.ex
        i = due.step if due.step is not None else deadlines.open_step(promo)
        if i is None:
            return
        if due.phase in (r.DEPLOYING, r.VERIFYING):
            env = ex.env(str(r.steps_of(promo)[i]["environment"]))
            if env is not None:
                self.roll_back(promo, i, env)
        self.fail(i, failures.TIMEOUT)

    def take_over(self, promo: dict[str, Any], i: int) -> None:
        """A step left Deploying (its replica died mid-helm): roll a pending release back,
        record it, then run the step again."""
        ex = self.ex
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        env = ex.env(str(step["environment"]))
        if env is None:
            self.fail(i, f"environment {step['environment']} is gone")
            return
        namespace, release = str(spec["namespace"]), str(spec["release"])
        found = recovery.plan(read_records(ex.records_api(env), namespace, release))
        if found.action != "none":
            try:
                self.recover(env, promo, found)
            except HelmBusy:
                raise Wait(RETRY_SECONDS, "no helm slot free for the recovery") from None
            what = recovery.describe(found, ex._replica)
            ex.write(
                self.name,
                lambda p: _when(p, i, (r.DEPLOYING,), lambda s: r.record_recovery(s, i, what)),
            )
            log.info("promotion %s step %s: %s", self.name, env.id, what)
        self.run_step(ex._store.get(self.name) or promo, i)

    def recover(self, env: Environment, promo: dict[str, Any], found: recovery.Plan) -> None:
        spec = r.spec_of(promo)
        namespace, release = str(spec["namespace"]), str(spec["release"])
        timeout = deadlines.timeout_seconds(promo)
        if found.action == "rollback":
            argv = rollback_args(release, int(found.revision or 0), namespace, timeout)
        else:
            argv = ["uninstall", release, "-n", namespace, "--wait", "--timeout", f"{timeout}s"]
        self.as_step(env, promo, argv, timeout)

    def roll_back(self, promo: dict[str, Any], i: int, env: Environment) -> None:
        """The environment back to the step's previousRevision (uninstalled when the step
        installed the release), unless it is there already (helm's --rollback-on-failure
        did it). Best effort: a failure is logged, the step keeps its reason."""
        spec = r.spec_of(promo)
        step = r.steps_of(promo)[i]
        namespace, release = str(spec["namespace"]), str(spec["release"])
        timeout = deadlines.timeout_seconds(promo)
        previous = step.get("previousRevision")
        ex = self.ex
        try:
            records = read_records(ex.records_api(env), namespace, release)
            action = recovery.undo(records, previous if isinstance(previous, int) else None)
            if action.action == "none":
                return
            if action.action == "rollback":
                argv = rollback_args(release, int(action.revision or 0), namespace, timeout)
            else:
                argv = ["uninstall", release, "-n", namespace, "--wait", "--timeout", f"{timeout}s"]
            done = self.as_step(env, promo, argv, timeout)
            if done.code != 0:
                log.warning("promotion %s: rolling %s back failed", self.name, env.id)
        except (ApiError, ApiException, HTTPError, HelmBusy, OSError) as e:
            log.warning("promotion %s: rolling %s back failed (%s)", self.name, env.id, e)

    def as_step(
        self, env: Environment, promo: dict[str, Any], argv: Sequence[str], timeout: int
    ) -> HelmResult:
        """helm with a fresh identity of the step (deleted right after)."""
        ex = self.ex
        namespace = str(r.spec_of(promo)["namespace"])
        with (
            ex._helm.workspace() as ws,
            ex._ids.kubeconfig(env, self.name, namespace, ws, token_ttl(timeout)) as kubeconfig,
        ):
            return self.helm(ws, argv, timeout + KILL_GRACE_SECONDS, kubeconfig)

    def finish(self, promo: dict[str, Any]) -> None:
        """The lock, the pinned values, every step identity; then the finalizer."""
        ex = self.ex
        spec = r.spec_of(promo)
        if r.deleting(promo) and not r.finished(promo):
            # An object being deleted: nothing runs any more (a helm run of this replica
            # was cancelled by its watcher); a step that may have changed is rolled back.
            i = deadlines.open_step(promo)
            if i is not None and r.steps_of(promo)[i].get("phase") in (r.DEPLOYING, r.VERIFYING):
                env = ex.env(str(r.steps_of(promo)[i]["environment"]))
                if env is not None:
                    self.roll_back(promo, i, env)
        ex._lock.release(str(spec.get("namespace")), str(spec.get("release")), self.name)
        ex._values.delete(self.name)
        gone = True
        for step in r.steps_of(promo):
            env = ex.env(str(step.get("environment")))
            if env is not None and step.get("phase") not in (r.PENDING, r.AWAITING):
                gone = ex._ids.delete(env, self.name) and gone
        if gone:
            ex.drop_finalizer(ex._store.get(self.name) or promo)


def rollback_args(release: str, revision: int, namespace: str, timeout: int) -> list[str]:
    """`helm rollback` to an approved or a found revision: its bytes win over whatever
    changed them since (--force-conflicts: a field someone else set is taken back)."""
    return ["rollback", release, str(revision), "--namespace", namespace, "--wait",
            "--force-conflicts", "--timeout", f"{timeout}s"]  # fmt: skip


def chart_args(
    ws: Workspace, release: str, namespace: str, chart: str, inputs: StepInputs
) -> list[str]:
    """RELEASE CHART --namespace NS, the step's values files (written as the creation's
    render writes them, creation.values_files) in order, then its sets: what the creation's
    `helm template` gave them (helmrun.render.template_args), so the two renders read the
    same values the same way."""
    args = [release, chart, "--namespace", namespace]
    for path in values_files(ws, inputs):
        args += ["--values", path]
    for s in inputs.sets:
        args += ["--set", s]
    return args


def _stopping(claim: Any) -> bool:
    stopping = getattr(claim, "stopping", None)
    return isinstance(stopping, threading.Event) and stopping.is_set()


def _left(promo: dict[str, Any], i: int, now: datetime, limits: deadlines.Limits) -> float:
    at = deadlines.step_deadline(promo, i, limits)
    return (at - now).total_seconds() if at is not None else float(deadlines.timeout_seconds(promo))


def _kinds(manifest: str) -> list[tuple[str, str]]:
    found = []
    for obj in objects(manifest):
        meta = obj.get("metadata") or {}
        if isinstance(meta, dict) and obj.get("kind") and meta.get("name"):
            found.append((str(obj["kind"]), str(meta["name"])))
    return found


def _when(
    promo: dict[str, Any],
    i: int,
    phases: tuple[str, ...],
    transition: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any] | None:
    """The transition on a fresh read, only while step i is still in one of `phases` and
    nobody asked to cancel (a write that lost a race writes nothing)."""
    if r.finished(promo) or r.deleting(promo) or r.cancel_request(promo) is not None:
        return None
    if r.steps_of(promo)[i].get("phase") not in phases:
        return None
    return transition(r.status_of(promo))


def _message(promo: dict[str, Any], i: int, message: str) -> dict[str, Any] | None:
    if r.finished(promo):
        return None
    return r.set_step_message(r.status_of(promo), i, message)

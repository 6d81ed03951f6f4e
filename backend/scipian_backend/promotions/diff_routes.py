"""`GET /api/v1/promotions/{name}/steps/{env}/diff` (change.md §6, docs/api.md "Diff").

Who: RBAC `get promotions` (name), then an approver of that environment (`create
environments/approve`), or the promotion's initiator when they may `get
environments/releases` there. Anyone else gets kubectl's 403 (the same as for a missing
promotion: nothing says whether it exists). Reads' rate bucket.

What: the step's desired objects against the release now on the target, through the pure
promotions/diff.py. The desired side is re-rendered on demand exactly as the creation
rendered it (promotions/creation.py's arguments: the pinned archive, the step's pinned
values, the target's capabilities, in the backend's helm sandbox), or, for a rollback
(§7), that revision's manifest and hooks; either way its digest must equal the step's
`renderDigest`, else 409 rather than a diff of something nobody approves. The live side
is the newest `deployed` release record (releases/full.py, the backend's broker credential;
never returned). Answers are cached per (promotion, step, renderDigest, live revision), so
a dashboard reloading the page costs no helm run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kubernetes.client.rest import ApiException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from urllib3.exceptions import HTTPError

from scipian_backend.environments.store import Environment
from scipian_backend.errors import ApiError, BadRequest, Conflict, NotFound, ServiceUnavailable
from scipian_backend.helmrun import HelmBusy
from scipian_backend.helmrun.render import RenderError, capabilities, objects, render_digest
from scipian_backend.http.calls import check_env_id
from scipian_backend.identity.authn import Identity
from scipian_backend.promotions import diff as d
from scipian_backend.promotions import records as r
from scipian_backend.promotions.creation import Capabilities, step_template_args
from scipian_backend.promotions.schema import PROMOTION_ERRORS, PromotionName, StepEnv
from scipian_backend.promotions.service import forbidden_read
from scipian_backend.promotions.store import PromotionStore
from scipian_backend.promotions.values import ValuesStore
from scipian_backend.ratelimit import READ
from scipian_backend.releases.full import FullRecord, read_records
from scipian_backend.releases.queries import RELEASE_NAME
from scipian_backend.usecases import Audit, Backend, Caller

BASE = "/api/v1/promotions"
DEPLOYED = "deployed"
NOT_REPRODUCED = (
    "the step's render cannot be reproduced now ({why}); no diff is shown rather than "
    "one of something other than what approvals bind"
)

Key = tuple[str, str, str, int]


class StepDiffs:
    def __init__(
        self,
        backend: Backend,
        store: PromotionStore,
        values: ValuesStore,
        cache_entries: int = 256,
    ) -> None:
        self._b = backend
        self._store = store
        self._values = values
        self._entries = cache_entries
        self._cache: OrderedDict[Key, list[dict[str, Any]]] = OrderedDict()
        self._mutex = threading.Lock()
        self._inflight: dict[Key, threading.Lock] = {}

    def read(
        self, name: str, env_id: str, authorization: Caller, request_id: str
    ) -> dict[str, Any]:
        """The diff answer; `authorization` is the API's header or the dashboard's Identity."""
        b = self._b
        audit = Audit(request_id, env_id)
        who = b._authenticate(authorization, audit, READ)
        audit = audit._replace(auth_time=who.auth_time)
        promo = self._authorized(who, name, env_id, audit)
        i = r.step_index(promo, env_id)
        if i is None:
            raise NotFound(f"promotion {name} has no step {env_id}")
        digest = r.steps_of(promo)[i].get("renderDigest")
        if not isinstance(digest, str) or not digest:
            raise Conflict(f"step {env_id} of promotion {name} has no render to compare")
        env, target = b._lookup(env_id)
        if env is None:
            raise NotFound(f"no environment {env_id}")
        if isinstance(target, ApiError):
            raise target
        api = target.api  # the broker's client: discovery only (it reads no Secrets)
        spec = promo["spec"]
        namespace, release = str(spec["namespace"]), str(spec["release"])
        records = self._records(env, namespace, release)
        live = _live(records)
        key = (name, env_id, digest, live.revision if live else 0)
        with self._key_lock(key):
            found = self._cached(key)
            if found is None:
                desired = self._desired(promo, env_id, api, records, digest)
                found = d.diff(desired, _objects(live), namespace)
                self._remember(key, found)
        return d.answer(env_id, digest, found)

    # --- who ----------------------------------------------------------------------------

    def _authorized(self, who: Identity, name: str, env_id: str, audit: Audit) -> dict[str, Any]:
        """The promotion, once RBAC allows this caller its diff on env_id; else the 403 a
        missing promotion also gets (an approver learns that it is missing: 404)."""
        b = self._b
        refused = forbidden_read(who, "get", name)
        if not b.authorizer.allowed_on(who, "get", "promotions", name):
            b._deny(audit, who, "forbidden", "RBAC denied (promotion diff)")
            raise refused
        approver = b.authorizer.may_approve(who, env_id)
        releases = approver or b.authorizer.allowed(who, env_id, "get", "releases")
        if not releases:
            b._deny(audit, who, "forbidden", "RBAC denied (promotion diff)")
            raise refused
        promo = self._store.get(name)
        exists = promo is not None and bool(r.steps_of(promo))
        if not approver and (not exists or r.initiator(promo or {}) != who.username):
            b._deny(audit, who, "forbidden", "neither approver nor initiator (promotion diff)")
            raise refused
        if promo is None or not exists:
            raise NotFound(f'promotions.scipian.io "{name}" not found')
        return promo

    # --- the two sides ------------------------------------------------------------------

    def _records(self, env: Environment, namespace: str, release: str) -> list[FullRecord]:
        """The release's records, read with the release reader's credential (afresh once
        when its token was refused), never returned."""
        reader = self._b.release_reader
        if reader is None:
            raise ServiceUnavailable("release reads are not configured")
        timeout = self._b.settings.http_timeout_seconds
        for attempt in (1, 2):
            try:
                return read_records(reader.api(env), namespace, release, timeout=timeout)
            except (ApiException, HTTPError, OSError):
                if attempt == 2:
                    break
                reader.forget(env)
        raise ServiceUnavailable(f"environment {env.id}: the target cluster is unavailable")

    def _desired(
        self,
        promo: dict[str, Any],
        env_id: str,
        target: Any,
        records: list[FullRecord],
        digest: str,
    ) -> list[dict[str, Any]]:
        spec = promo["spec"]
        rollback_to = spec.get("rollbackTo")
        if isinstance(rollback_to, int) and not isinstance(rollback_to, bool):
            record = next((x for x in records if x.revision == rollback_to), None)
            if record is None:
                raise Conflict(NOT_REPRODUCED.format(why=f"revision {rollback_to} is gone"))
            return _checked(record.manifest, record.hooks, digest)
        return self._render(promo, env_id, target, bool(records), digest)

    def _render(
        self, promo: dict[str, Any], env_id: str, target: Any, exists: bool, digest: str
    ) -> list[dict[str, Any]]:
        """The creation's render again. `--is-upgrade` was whether the release existed at
        creation; it may exist now (this step ran) or not: both are tried, the other only
        when the first differs."""
        b = self._b
        name, spec = promo["metadata"]["name"], promo["spec"]
        if b.helm is None or b.artifacts is None:
            raise ServiceUnavailable("promotions need the backend's helm (serve --helm)")
        if r.finished(promo):
            raise Conflict(
                f"promotion {name} is {r.phase(promo)}: its pinned values are deleted, "
                "so its diff is no longer shown"
            )
        chart = spec.get("chart") or {}
        archive = b.artifacts.get(str(chart.get("digest") or ""))
        inputs = self._values.load(name, env_id)
        if archive is None or inputs is None:
            raise Conflict(NOT_REPRODUCED.format(why="its pinned chart or values are gone"))
        try:
            kube_version, api_versions = capabilities(target, b.settings.http_timeout_seconds)
        except (ApiException, HTTPError, OSError):
            raise ServiceUnavailable("the target cluster is unavailable") from None
        timeout = float(b.settings.promotion_render_timeout_seconds)
        for is_upgrade in (exists, not exists):
            caps = Capabilities(kube_version, tuple(api_versions), is_upgrade)
            try:
                with b.helm.workspace() as ws:
                    args = step_template_args(
                        ws, str(spec["release"]), str(spec["namespace"]), archive.data, inputs, caps
                    )
                    done = b.helm.run(ws, args, timeout=timeout, grace=0)
            except HelmBusy:
                raise ServiceUnavailable("the backend's helm is busy; try again") from None
            if done.code != 0 or done.reason:
                raise Conflict(NOT_REPRODUCED.format(why="rendering failed"))
            manifest = done.stdout.decode("utf-8", "replace")
            try:
                if render_digest(manifest) == digest:
                    return objects(manifest)
            except RenderError:
                raise Conflict(NOT_REPRODUCED.format(why="rendering failed")) from None
        raise Conflict(NOT_REPRODUCED.format(why="its digest differs from renderDigest"))

    # --- the cache ----------------------------------------------------------------------

    def _key_lock(self, key: Key) -> threading.Lock:
        """One computation per key at a time: a second reader waits for the first's."""
        with self._mutex:
            lock = self._inflight.get(key)
            if lock is None:
                lock = self._inflight[key] = threading.Lock()
                if len(self._inflight) > self._entries:  # forget idle locks, bounded
                    for k in [k for k, v in self._inflight.items() if not v.locked()]:
                        if k != key:
                            del self._inflight[k]
            return lock

    def _cached(self, key: Key) -> list[dict[str, Any]] | None:
        with self._mutex:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def _remember(self, key: Key, found: list[dict[str, Any]]) -> None:
        with self._mutex:
            self._cache[key] = found
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)


def _live(records: list[FullRecord]) -> FullRecord | None:
    """The release now on the target: its newest deployed revision (None: not installed)."""
    deployed = [x for x in records if x.status == DEPLOYED]
    return max(deployed, key=lambda x: x.revision) if deployed else None


def _objects(record: FullRecord | None) -> list[dict[str, Any]]:
    if record is None:
        return []
    try:
        return _parse(record.manifest, record.hooks)
    except RenderError:
        raise ServiceUnavailable("the release's record could not be read") from None


def _parse(manifest: str, hooks: list[str]) -> list[dict[str, Any]]:
    found = objects(manifest)
    for hook in hooks:
        found.extend(objects(hook))
    return found


def _checked(manifest: str, hooks: list[str], digest: str) -> list[dict[str, Any]]:
    """A revision's objects, when its digest is the step's renderDigest."""
    try:
        same = render_digest(manifest, hooks) == digest
        found = _parse(manifest, hooks) if same else []
    except RenderError:
        same = False
    if not same:
        raise Conflict(NOT_REPRODUCED.format(why="its digest differs from renderDigest"))
    return found


class ImageChange(BaseModel):
    container: str
    old: str | None
    new: str | None


class ReplicasChange(BaseModel):
    old: int | None
    new: int | None


class KeyChanges(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str]


class DiffObject(BaseModel):
    """One object that differs; a Secret says only `present` (added, removed, kept)."""

    kind: str
    namespace: str
    name: str
    change: str
    hook: bool
    images: list[ImageChange]
    replicas: ReplicasChange | None = None
    fields: list[str]
    keys: KeyChanges | None = None
    present: str | None = None


class DiffAnswer(BaseModel):
    environment: str
    digest: str
    objects: list[DiffObject]


def install_diff_routes(app: FastAPI, backend: Backend) -> None:
    def service() -> StepDiffs:
        diffs: StepDiffs | None = backend.diffs
        if diffs is None:
            raise ServiceUnavailable("promotions are not configured")
        return diffs

    @app.get(
        BASE + "/{name}/steps/{env_id}/diff",
        response_model=DiffAnswer,
        responses=PROMOTION_ERRORS,
    )
    async def step_diff(name: PromotionName, env_id: StepEnv, request: Request) -> JSONResponse:
        if len(name) > 63 or not RELEASE_NAME.fullmatch(name):
            raise BadRequest("promotion name must be a DNS-1123 subdomain of at most 63 characters")
        check_env_id(env_id)
        auth = request.headers.get("authorization")
        rid = str(request.state.request_id)
        return JSONResponse(await run_in_threadpool(service().read, name, env_id, auth, rid))

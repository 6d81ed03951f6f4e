"""The chart upload use case (docs/api.md "Chart uploads", change.md §5 "Upload").

Order: the reference and `through` (400), the content type (415), the body's size (413)
— all checked by the route before this — then authentication (401), one
SubjectAccessReview `create environments/deploy` per environment of `through` (403), the
user's uploads this hour (429), the digest (400), an archive already stored (200, nothing
written), the archive inspected in memory (400, 413 past the decompressed bound), its name
and version as the backend's own helm reads them (`helm show chart`, 400; 503 when no helm
slot is free), the user's unreferenced archives (429) and the store's size (507), then the
Secret (201).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import yaml

from scipian_backend.artifacts.inspect import InvalidChart, TooLarge, inspect
from scipian_backend.artifacts.store import ArtifactStore, Stored
from scipian_backend.errors import ApiError, BadRequest, Forbidden, ServiceUnavailable
from scipian_backend.helmrun.sandbox import HelmBusy, ScratchFull
from scipian_backend.http.error_bodies import PayloadTooLarge
from scipian_backend.ratelimit import TooManyRequests
from scipian_backend.usecases import Audit, Backend

log = logging.getLogger("scipian.artifacts")

HOUR = 3600.0
SHOW_TIMEOUT = 20.0  # seconds for `helm show chart` on one archive
BUSY_RETRY = 5  # Retry-After when no helm slot is free


class InsufficientStorage(ApiError, status=507): ...


class UnsupportedMediaType(ApiError, status=415): ...


class Window:
    """Events per key in a sliding window (per replica, as the other per-user limits)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, collections.deque())
            while seen and seen[0] <= now - self.seconds:
                seen.popleft()
            if len(seen) >= self.limit:
                retry = int(seen[0] + self.seconds - now) + 1
                raise TooManyRequests(
                    f"at most {self.limit} chart uploads per hour", retry_after=max(1, retry)
                )
            seen.append(now)
            if len(self._seen) > 10_000:  # forget idle users
                for k in [k for k, v in self._seen.items() if not v]:
                    del self._seen[k]


class Uploads:
    """`Backend.artifacts`: the upload route's use case, and the store's get/collect."""

    def __init__(
        self,
        backend: Backend,
        store: ArtifactStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._b = backend
        self.store = store
        s = backend.settings
        self._window = Window(s.chart_uploads_per_hour, HOUR, clock)
        self._clock = clock
        self._writes = threading.Lock()  # quota check and create, one at a time per replica
        self._pool = ThreadPoolExecutor(4, "scipian-artifacts")

    def get(self, digest: str) -> Any:
        return self.store.get(digest)

    def collect(self, now: datetime) -> int:
        return self.store.collect(now)

    def upload(
        self,
        digest: str,
        through: list[str],
        data: bytes,
        authorization: str | None,
        request_id: str,
    ) -> tuple[int, dict[str, Any]]:
        b = self._b
        s = b.settings
        audit = Audit(request_id, through[0], "deploy")
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        allowed = list(self._pool.map(lambda e: b.authorizer.may_deploy(who, e), through))
        for env_id, ok in zip(through, allowed, strict=True):
            if not ok:
                b._deny(
                    audit._replace(environment=env_id), who, "forbidden", "RBAC denied (upload)"
                )
                raise Forbidden(f"{who.username} may not deploy to environment {env_id}")
        self._window.admit(who.username)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise BadRequest("the archive's sha256 is not the digest in the URL")
        existing = self.store.find(digest)
        if existing is not None:
            return 200, _answer(existing.digest, existing.name, existing.version, existing.size)
        try:
            info = inspect(data, s.chart_max_decompressed)
        except TooLarge as e:
            raise PayloadTooLarge(str(e)) from None
        except InvalidChart as e:
            raise BadRequest(str(e)) from None
        self._check_with_helm(data, info.name, info.version)
        with self._writes:
            self._check_quotas(who.username, len(data))
            now = datetime.fromtimestamp(self._clock(), timezone.utc)
            created = self.store.create(
                digest, info.name, info.version, data, who.username, through, now
            )
        log.info("chart archive %s (%s %s) uploaded", digest, info.name, info.version)
        return (201 if created else 200), _answer(digest, info.name, info.version, len(data))

    def _check_with_helm(self, data: bytes, name: str, version: str) -> None:
        helm = self._b.helm
        if helm is None:
            raise ServiceUnavailable("chart uploads need the backend's helm (serve --helm)")
        try:
            with helm.workspace() as ws:
                path = ws.write("chart.tgz", data)
                result = helm.run(ws, ["show", "chart", path], timeout=SHOW_TIMEOUT, grace=0)
        except HelmBusy:
            raise _busy() from None
        except ScratchFull:
            raise _busy() from None
        if not result.ok:
            log.debug("helm show chart refused an upload: %s", result.stderr[:2000])
            raise BadRequest("helm cannot load the archive as a chart")
        try:
            shown = yaml.safe_load(result.stdout)
        except yaml.YAMLError:
            shown = None
        if not isinstance(shown, dict):
            raise BadRequest("helm cannot load the archive as a chart")
        if shown.get("name") != name or str(shown.get("version")) != version:
            raise BadRequest("the archive's Chart.yaml is not the chart helm loads from it")

    def _check_quotas(self, username: str, size: int) -> None:
        s = self._b.settings
        everything = self.store.archives()
        total = sum(a.size for a in everything)
        if total + size > s.chart_store_bytes:
            raise InsufficientStorage(
                f"chart archives would take more than {s.chart_store_bytes} bytes in all"
            )
        mine = [a for a in everything if a.uploader_hash == _hash(username)]
        if len(mine) >= s.chart_unreferenced_per_user:
            referenced = self.store.referenced()
            loose = [a for a in mine if a.digest not in referenced]
            if len(loose) >= s.chart_unreferenced_per_user:
                raise TooManyRequests(
                    f"at most {s.chart_unreferenced_per_user} uploaded charts no promotion "
                    "uses yet, per user",
                    retry_after=int(HOUR),
                )


def _hash(username: str) -> str:
    from scipian_backend.identity.names import user_hash

    return user_hash(username)


def _busy() -> ServiceUnavailable:
    e = ServiceUnavailable("the backend's helm is busy; try again shortly")
    e.headers = {"Retry-After": str(BUSY_RETRY)}  # type: ignore[attr-defined]
    return e


def _answer(digest: str, name: str, version: str, size: int) -> dict[str, Any]:
    return {"digest": digest, "name": name, "version": version, "size": size}


__all__ = ["InsufficientStorage", "Stored", "UnsupportedMediaType", "Uploads"]

"""List+watch of one cluster-scoped custom resource, feeding the room's cache.

A list (paged) gives every object and a resourceVersion; a watch from there (with
bookmarks, so the version stays fresh on a quiet resource) gives each change. A watch that
ends is resumed from the last version seen; 410 Gone (the version was compacted away)
re-lists; any other failure waits a bounded, growing backoff and re-lists.

Any list call of the kubernetes client that takes the list/watch parameters serves
(`lister`: ClusterRoles for identity/rbac_index.py); `keep` turns each listed object into
what `on_list` receives, page by page, so a large list is never held whole as JSON.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.kube import json_body, status_of
from scipian_backend.worker.wakeups import backoff

log = logging.getLogger("scipian.worker")
PAGE = 500
WATCH_SECONDS = 240  # the apiserver ends a watch after this; it is resumed at once
MAX_EVENT_BYTES = 4 * 1024 * 1024  # one watch event's line (etcd's objects stay under 1.5 MiB)


class Expired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class Watcher:
    """Calls `on_list(objects)` after every (re-)list and `on_event(type, obj)` for each
    change, until `stop` is set."""

    def __init__(
        self,
        api: client.ApiClient,
        group: str,
        version: str,
        plural: str,
        on_list: Callable[[list[Any]], None],
        on_event: Callable[[str, dict[str, Any]], None],
        stop: threading.Event,
        timeout: float = 10.0,
        selector: str = "",
        *,
        lister: Callable[..., Any] | None = None,
        keep: Callable[[dict[str, Any]], Any] | None = None,
        log_name: str = "worker",
    ) -> None:
        self._api = client.CustomObjectsApi(api)
        self._lister = lister or functools.partial(
            self._api.list_cluster_custom_object, group, version, plural
        )
        self._keep = keep
        self._log_name = log_name
        # A label selector (serve --worker-selector): this replica's share of the objects.
        self._selector = {"label_selector": selector} if selector else {}
        self._what = (group, version, plural)
        self._on_list = on_list
        self._on_event = on_event
        self._stop = stop
        self._timeout = timeout
        self._resp: Any = None
        self._lock = threading.Lock()

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                rv = self._list()
                failures = 0
                while not self._stop.is_set():
                    rv = self._watch(rv)
            except Expired:
                continue
            except (ApiException, HTTPError, OSError, ValueError) as e:
                if self._stop.is_set():
                    return
                failures += 1
                delay = backoff(failures, base=0.5, most=30.0)
                log.warning(
                    "%s: watching %s failed (%s); again in %.1f s",
                    self._log_name,
                    self._what[2],
                    _describe(e),
                    delay,
                )
                self._stop.wait(delay)

    def close(self) -> None:
        """Ends a watch in progress (shutdown)."""
        with self._lock:
            resp = self._resp
        if resp is not None:
            with contextlib.suppress(Exception):  # best effort on a dying connection
                resp.shutdown()

    def _list(self) -> str:
        items: list[Any] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"limit": PAGE, **self._selector}
            if token:
                kw["_continue"] = token
            page = json_body(
                self._lister(_request_timeout=self._timeout, _preload_content=False, **kw)
            )
            found = (i for i in page.get("items") or [] if isinstance(i, dict))
            items.extend(found if self._keep is None else map(self._keep, found))
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                self._on_list(items)
                return str(meta.get("resourceVersion") or "")

    def _watch(self, rv: str) -> str:
        try:
            resp = self._lister(
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                **self._selector,
                _request_timeout=(self._timeout, WATCH_SECONDS + self._timeout),
                _preload_content=False,
            )
        except ApiException as e:
            if status_of(e) == 410:
                raise Expired() from None
            raise
        with self._lock:
            self._resp = resp
        try:
            for line in resp:
                if self._stop.is_set():
                    break
                if len(line) > MAX_EVENT_BYTES:
                    raise ValueError("watch event too large")
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object")
                if not isinstance(obj, dict):
                    continue
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise Expired()
                    raise ValueError(f"watch error {obj.get('code')}")
                new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._on_event(str(kind), obj)
        finally:
            with self._lock:
                self._resp = None
            resp.release_conn()
        return rv


def _describe(e: BaseException) -> str:
    status = status_of(e)
    return f"HTTP {status}" if status else type(e).__name__

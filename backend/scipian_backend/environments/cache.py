"""Every Environment on mgmt, parsed, kept by a list+watch loop (worker/watch.py).

The listing reads Environments from here instead of listing them all from mgmt on every
request; each object is parsed into the small `Environment` value as it arrives (pages of
the list included), so neither the raw JSON nor managedFields are kept.

What reads through to mgmt (store.py): a name not here (a registration whose watch event
is still in flight is found at once; absence is never cached), and everything while the
cache is not ready (before its first list, or with `serve --no-environment-cache`).
Deploy-level and gate decisions never read from here: usecases.py reads the Environment
fresh for them (docs/backend.md "Listing environments"). Staleness otherwise: the watch's
delay, normally milliseconds; while the watch is broken (mgmt unreachable), the last list,
with the failure logged and retried with a bounded backoff.

`on_change(env_id)` is called for every watch event and `on_change(None)` after every
(re-)list: the (Environment, client) pairs of lookups.py are dropped with them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client

from scipian_backend.config import GROUP, PLURAL, VERSION
from scipian_backend.environments.store import Environment, Store, parse_environment
from scipian_backend.worker.watch import Watcher

log = logging.getLogger("scipian.backend")


class EnvironmentCache:
    def __init__(
        self,
        mgmt: client.ApiClient,
        store: Store,
        timeout: float = 10.0,
        on_change: Callable[[str | None], None] | None = None,
    ) -> None:
        self._mgmt = mgmt
        self._store = store
        self._timeout = timeout
        self._on_change = on_change
        self._lock = threading.Lock()
        self._envs: dict[str, Environment] = {}
        self._sorted: tuple[Environment, ...] | None = ()  # None: to be sorted again
        self._listed = threading.Event()
        self._stop = threading.Event()
        self._watcher: Watcher | None = None

    def ready(self) -> bool:
        return self._listed.is_set()

    def wait_ready(self, seconds: float) -> bool:
        return self._listed.wait(seconds)

    def get(self, env_id: str) -> Environment | None:
        """The Environment named env_id: from here, else read from mgmt."""
        if self._listed.is_set():
            with self._lock:
                env = self._envs.get(env_id)
            if env is not None:
                return env
        return self._store.get(env_id)

    def cached(self, env_id: str) -> Environment | None:
        """From here only (None when not here or not ready): the listing confirms names by
        RBAC first and reads a missing one through with `get`."""
        with self._lock:
            return self._envs.get(env_id)

    def every(self) -> tuple[Environment, ...]:
        """Every Environment, by id (sorted once per change, not per call)."""
        if not self._listed.is_set():
            return tuple(self._store.list())
        with self._lock:
            if self._sorted is None:
                self._sorted = tuple(sorted(self._envs.values(), key=lambda e: e.id))
            return self._sorted

    def __len__(self) -> int:
        with self._lock:
            return len(self._envs)

    # --- the watch ----------------------------------------------------------------------

    def start(self) -> None:
        self._watcher = Watcher(
            self._mgmt,
            GROUP,
            VERSION,
            PLURAL,
            on_list=self._replace,
            on_event=self._event,
            stop=self._stop,
            timeout=self._timeout,
            keep=parse_environment,
            log_name="environment cache",
        )
        threading.Thread(target=self._watcher.run, name="scipian-environments", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.close()

    def _replace(self, envs: list[Environment]) -> None:
        with self._lock:
            self._envs = {e.id: e for e in envs if e.id}
            self._sorted = None
        self._listed.set()
        if self._on_change is not None:
            self._on_change(None)

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        env = parse_environment(obj)
        if not env.id:
            return
        with self._lock:
            if kind == "DELETED":
                self._envs.pop(env.id, None)
            else:
                self._envs[env.id] = env
            self._sorted = None
        if self._on_change is not None:
            self._on_change(env.id)

"""Reading release records on a target with the backend's release-reader credential.

The broker cannot read Secrets. Each target has a ServiceAccount of its own,
`scipian-system/scipian-release-reader`, allowed `get`/`list` on Secrets and ConfigMaps
and nothing else (manifests/release-reader.yaml); the broker may only request its tokens.
The backend asks for a short-lived token (READER_TTL) per environment and keeps it in
memory until shortly before it expires; it never leaves the process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.environments.store import Environment
from scipian_backend.errors import ApiError, InternalError, ServiceUnavailable
from scipian_backend.minting.kubeconfig import kubeconfig_text
from scipian_backend.minting.minter import TargetClients
from scipian_backend.releases.records import DEFAULT_LIMITS, DecodeLimits, Record, record_of

READER_NAMESPACE = "scipian-system"
READER_NAME = "scipian-release-reader"
READER_TTL = 600  # seconds; the TokenRequest minimum
RENEW_BEFORE = 120  # seconds before expiry when a cached token is no longer used
OWNER_SELECTOR = "owner=helm"
DRIVERS = ("secret", "configmap")


@dataclass
class _Reader:
    key: str  # env id @ Environment uid
    api: client.ApiClient
    renew_at: float

    def __repr__(self) -> str:  # never the token
        return f"_Reader(key={self.key!r})"


class ReleaseReader:
    def __init__(
        self,
        targets: TargetClients,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        limits: DecodeLimits = DEFAULT_LIMITS,
    ) -> None:
        self._targets = targets
        self._timeout = timeout
        self._limits = limits  # carried by each Record: every decoder of it keeps them
        self._clock = clock
        self._lock = threading.Lock()
        self._readers: dict[str, _Reader] = {}
        self._pool = ThreadPoolExecutor(8, "scipian-releases")

    def records(
        self,
        env: Environment,
        namespace: str | None,
        name: str | None = None,
        drivers: tuple[str, ...] = DRIVERS,
    ) -> list[Record]:
        """Every record (of release `name`, if given) in `namespace` (None: all of them)."""
        try:
            return self._records(env, namespace, name, drivers)
        except ApiError:
            raise
        except ApiException as e:
            status = kube.status_of(e)
            if status == 401:  # a reader token revoked behind our cache: once more, afresh
                self._forget(env)
                try:
                    return self._records(env, namespace, name, drivers)
                except ApiException as again:
                    raise _error(env, again) from None
            raise _error(env, e) from None
        except HTTPError:
            raise ServiceUnavailable(f"environment {env.id}: cluster unreachable") from None
        except ValueError:
            raise InternalError(f"environment {env.id}: unreadable answer") from None

    def _records(
        self, env: Environment, namespace: str | None, name: str | None, drivers: tuple[str, ...]
    ) -> list[Record]:
        core = client.CoreV1Api(self._reader(env).api)
        selector = OWNER_SELECTOR + (f",name={name}" if name else "")

        def one(driver: str) -> list[Record]:
            kind = "secret" if driver == "secret" else "config_map"
            if namespace is None:
                resp = getattr(core, f"list_{kind}_for_all_namespaces")(
                    label_selector=selector, _request_timeout=self._timeout, _preload_content=False
                )
            else:
                resp = getattr(core, f"list_namespaced_{kind}")(
                    namespace,
                    label_selector=selector,
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
            doc = kube.json_body(resp)
            return [record_of(item, driver, self._limits) for item in doc.get("items") or []]

        if len(drivers) == 1:
            return one(drivers[0])
        # Both drivers at once: two independent round trips to the target.
        return [r for found in self._pool.map(one, drivers) for r in found]

    def api(self, env: Environment) -> client.ApiClient:
        """The reader's client for this environment (promotions/verify.py reads workloads
        and pods with it; manifests/release-reader.yaml says what it may read)."""
        return self._reader(env).api

    def forget(self, env: Environment) -> None:
        """Drops a cached reader token (it was refused): the next read asks afresh."""
        self._forget(env)

    def _reader(self, env: Environment) -> _Reader:
        # A cached reader is used without reading the broker Secret again (a mgmt round
        # trip): its token is the reader's, not the broker's, and lives READER_TTL at most.
        key = f"{env.id}@{env.uid}"
        now = self._clock()
        with self._lock:
            cached = self._readers.get(env.id)
        if cached is not None and cached.key == key and now < cached.renew_at:
            return cached
        target = self._targets.get(env)
        token = self._token(target.api)
        doc = json.loads(kubeconfig_text(env.id, target.endpoint, token))
        reader = _Reader(key, kube.from_kubeconfig_dict(doc), now + READER_TTL - RENEW_BEFORE)
        with self._lock:
            self._readers[env.id] = reader
        return reader

    def _token(self, broker: client.ApiClient) -> str:
        body: dict[str, Any] = {"spec": {"expirationSeconds": READER_TTL}}
        tr = kube.json_body(
            client.CoreV1Api(broker).create_namespaced_service_account_token(
                READER_NAME,
                READER_NAMESPACE,
                body,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
        )
        status = tr.get("status")
        token = status.get("token") if isinstance(status, dict) else None
        if not isinstance(token, str) or not token:
            raise ValueError("TokenRequest without token")
        return token

    def _forget(self, env: Environment) -> None:
        with self._lock:
            self._readers.pop(env.id, None)


def _error(env: Environment, e: ApiException) -> ApiError:
    status = kube.status_of(e)
    if status in (401, 403, 404):
        # 404: the reader ServiceAccount is missing (an environment registered before it).
        return InternalError(
            f"environment {env.id}: release reader not usable (HTTP {status}); "
            "register the environment again"
        )
    if status >= 500 or status in (0, 429):
        return ServiceUnavailable(f"environment {env.id}: cluster unavailable (HTTP {status})")
    return InternalError(f"environment {env.id}: cluster refused the request (HTTP {status})")

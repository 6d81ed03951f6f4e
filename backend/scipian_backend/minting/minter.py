"""Minting short-lived credentials on an environment's target cluster, as its broker.

Per issuance: ensure the identity of (environment, level, user, source) and its bindings
(minting/identities.py: create-or-get, 409 tolerated, so concurrent replicas and requests
converge; bindings reconciled when the Environment's generation changed), create a
per-session Secret, and a TokenRequest bound to it (deleting the Secret kills the token).
The read level binds its role cluster-wide, the deploy level by RoleBindings in
spec.deploy.namespaces only. The first new identity of a user on a cluster removes that
user's per-user objects of before (identity version 1).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.environments.store import BrokerCredential, Environment, Store
from scipian_backend.errors import ApiError, InternalError, ServiceUnavailable
from scipian_backend.identity import names
from scipian_backend.minting.identities import Identities
from scipian_backend.minting.kubeconfig import format_time

log = logging.getLogger("scipian.minting")


@dataclass(frozen=True)
class Issued:
    token: str
    expiration: datetime
    service_account: str
    session_secret: str
    endpoint: kube.ClusterEndpoint

    def __repr__(self) -> str:
        return f"Issued(service_account={self.service_account!r}, expiration={self.expiration})"


@dataclass
class _Target:
    resource_version: str
    api: client.ApiClient
    endpoint: kube.ClusterEndpoint


class TargetClients:
    """One API client per environment, rebuilt when its broker Secret changes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._targets: dict[str, _Target] = {}

    def get(self, env: Environment) -> _Target:
        cred = self._store.broker_credential(env)
        with self._lock:
            target = self._targets.get(env.id)
            if target is not None and target.resource_version == cred.resource_version:
                return target
        target = self._build(env, cred)
        with self._lock:
            self._targets[env.id] = target
        return target

    def _build(self, env: Environment, cred: BrokerCredential) -> _Target:
        try:
            doc = yaml.safe_load(cred.kubeconfig)
            api = kube.from_kubeconfig_dict(doc)
            return _Target(cred.resource_version, api, kube.endpoint_of(api))
        except Exception:
            raise InternalError(f"environment {env.id}: broker kubeconfig unusable") from None


class Minter:
    def __init__(
        self,
        targets: TargetClients,
        namespace: str,
        *,
        timeout: float = 10.0,
        ensured_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._targets = targets
        self._ns = namespace
        self._timeout = timeout
        self._ensured_ttl = ensured_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._ensured: dict[tuple[str, str, str], float] = {}
        self._migrated: set[tuple[str, str]] = set()

    def endpoint(self, env: Environment) -> kube.ClusterEndpoint:
        return self._targets.get(env).endpoint

    def target(self, env: Environment) -> _Target:
        """The environment's client (a read of its broker Secret): fetch it once per issuance."""
        return self._targets.get(env)

    def issue(
        self,
        env: Environment,
        username: str,
        target: _Target | None = None,
        *,
        level: str = "read",
        source: str = names.STANDING,
        ttl: int | None = None,
        namespaces: tuple[str, ...] | None = None,
    ) -> Issued:
        """A read credential, or with level="deploy" one of env.deploy (the caller checked
        that the environment has a deploy level), from the identity of `source`; `ttl`
        shortens the credential's lifetime (break-glass: the minimum; an access request:
        its window), `namespaces` narrows a deploy identity's bindings (an access
        request's namespaces; only ones the Environment deploys to are bound)."""
        if target is None:
            target = self._targets.get(env)
        try:
            if level == "deploy":
                return self._issue_deploy(env, target, username, source, ttl, namespaces)
            return self._issue(env, target, username, source, ttl)
        except ApiError:
            raise
        except ApiException as e:
            raise _target_error(env, e) from None
        except HTTPError:
            raise ServiceUnavailable(f"environment {env.id}: cluster unreachable") from None
        except ValueError:  # an answer that is not the object asked for (kube.json_body)
            raise InternalError(f"environment {env.id}: unreadable answer") from None

    def issue_step(
        self,
        env: Environment,
        username: str,
        source: str,
        namespace: str,
        ttl: int,
        target: _Target | None = None,
    ) -> Issued:
        """The backend's own credential for a promotion step (promotions/step_identity.py):
        an identity of `source` bound to the deploy role in `namespace` only (one of the
        environment's deploy namespaces), its token living `ttl` seconds (the step's
        timeout and a margin, whatever people's deploy TTL)."""
        deploy = env.deploy
        if deploy is None or namespace not in deploy.namespaces:
            raise InternalError(f"environment {env.id}: does not deploy to {namespace}")
        if target is None:
            target = self._targets.get(env)
        key = names.IdentityKey(env.id, "deploy", username, source)
        try:
            return self._mint(
                env, target, key, role=deploy.cluster_role, namespaces=(namespace,), ttl=ttl
            )
        except ApiError:
            raise
        except ApiException as e:
            raise _target_error(env, e) from None
        except HTTPError:
            raise ServiceUnavailable(f"environment {env.id}: cluster unreachable") from None
        except ValueError:
            raise InternalError(f"environment {env.id}: unreadable answer") from None

    def _issue(
        self, env: Environment, target: _Target, username: str, source: str, ttl: int | None
    ) -> Issued:
        key = names.IdentityKey(env.id, "read", username, source)
        lifetime = min(ttl, env.ttl_seconds) if ttl else env.ttl_seconds
        return self._mint(env, target, key, role=env.cluster_role, namespaces=None, ttl=lifetime)

    def _issue_deploy(
        self,
        env: Environment,
        target: _Target,
        username: str,
        source: str,
        ttl: int | None,
        namespaces: tuple[str, ...] | None = None,
    ) -> Issued:
        deploy = env.deploy
        if deploy is None:  # Backend.issue refuses this before; never mint without one
            raise InternalError(f"environment {env.id}: no deploy level")
        bound = deploy.namespaces
        if namespaces is not None:
            bound = tuple(ns for ns in deploy.namespaces if ns in set(namespaces))
            if not bound:  # never an identity bound nowhere, nor one bound everywhere
                raise InternalError(f"environment {env.id}: no deploy namespace to bind")
        key = names.IdentityKey(env.id, "deploy", username, source)
        return self._mint(
            env,
            target,
            key,
            role=deploy.cluster_role,
            namespaces=bound,
            ttl=min(ttl, deploy.ttl_seconds) if ttl else deploy.ttl_seconds,
        )

    def _mint(
        self,
        env: Environment,
        target: _Target,
        key: names.IdentityKey,
        *,
        role: str,
        namespaces: tuple[str, ...] | None,
        ttl: int,
    ) -> Issued:
        core = client.CoreV1Api(target.api)
        memo = (f"{env.id}@{target.resource_version}", key.account, f"{env.uid}/{env.generation}")

        def ensure() -> None:
            self._ensure(memo, target, key, role, namespaces, env)

        ensure()
        secret = self._session_secret(core, key, ttl)
        secret_name, secret_uid = _name_and_uid(secret)
        try:
            try:
                tr = self._token(core, key.account, secret_name, secret_uid, ttl)
            except ApiException as e:
                if kube.status_of(e) != 404:
                    raise
                # The ServiceAccount vanished behind our cache: ensure again, once.
                self._forget(memo)
                ensure()
                tr = self._token(core, key.account, secret_name, secret_uid, ttl)
            token, expiration = _token_and_expiration(tr)
        except BaseException:
            self._delete_quietly(core, secret_name)
            raise
        return Issued(
            token=token,
            expiration=expiration,
            service_account=key.account,
            session_secret=secret_name,
            endpoint=target.endpoint,
        )

    # --- idempotent, concurrency-safe set-up ------------------------------------------------

    def _ensure(
        self,
        memo: tuple[str, str, str],
        target: _Target,
        key: names.IdentityKey,
        role: str,
        namespaces: tuple[str, ...] | None,
        env: Environment,
    ) -> None:
        if self._fresh(memo):
            return
        with self._key_lock(memo):  # one thread per process does the work; 409 across replicas
            if self._fresh(memo):
                return
            ids = Identities(target.api, self._ns, self._timeout)
            created = ids.ensure(key, role, namespaces, env.generation, env.uid)
            if created:
                self._migrate(target, ids, key.user)
            with self._lock:
                self._ensured[memo] = self._clock()

    def _migrate(self, target: _Target, ids: Identities, username: str) -> None:
        """Once per cluster and user (per process): the user's per-user objects of before
        identities go, and with them that user's tokens minted by an older backend for any
        environment of this cluster (docs/backend.md, "Upgrading")."""
        memo = (target.endpoint.server, username)
        with self._lock:
            if memo in self._migrated:
                return
        removed = ids.delete_legacy(username)
        if removed:
            log.info("removed %d object(s) of a per-user identity on %s", removed, memo[0])
        with self._lock:
            self._migrated.add(memo)

    # --- sessions ----------------------------------------------------------------------------

    # The two per-request creates read their answers as plain JSON (kube.json_body).

    def _session_secret(
        self, core: client.CoreV1Api, key: names.IdentityKey, ttl: int
    ) -> dict[str, Any]:
        expires = datetime.now(timezone.utc).timestamp() + ttl + 60
        body = {
            "metadata": {
                "generateName": key.session_prefix,
                # The user's hash label and annotation: revoke and the sweep find every
                # session of the user, whatever the identity.
                "labels": key.labels(),
                "annotations": {
                    **key.annotations(),
                    names.EXPIRES_ANNOTATION: format_time(
                        datetime.fromtimestamp(expires, timezone.utc)
                    ),
                },
            },
            "type": "Opaque",
        }
        return kube.json_body(
            core.create_namespaced_secret(
                self._ns, body, _request_timeout=self._timeout, _preload_content=False
            )
        )

    def _token(
        self, core: client.CoreV1Api, account: str, secret_name: str, secret_uid: str, ttl: int
    ) -> dict[str, Any]:
        body = {
            "spec": {
                "expirationSeconds": ttl,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "name": secret_name,
                    "uid": secret_uid,
                },
            }
        }
        return kube.json_body(
            core.create_namespaced_service_account_token(
                account,
                self._ns,
                body,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
        )

    def _delete_quietly(self, core: client.CoreV1Api, name: str) -> None:
        # An expired or orphaned session Secret holds nothing usable: failures do no harm.
        with contextlib.suppress(ApiException, HTTPError):
            core.delete_namespaced_secret(name, self._ns, _request_timeout=self._timeout)

    def _fresh(self, key: tuple[str, str, str]) -> bool:
        with self._lock:
            at = self._ensured.get(key)
        return at is not None and self._clock() - at < self._ensured_ttl

    def _forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._ensured.pop(key, None)

    def _key_lock(self, key: tuple[str, str, str]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())


def _name_and_uid(secret: dict[str, Any]) -> tuple[str, str]:
    meta = secret.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    uid = meta.get("uid") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name or not isinstance(uid, str) or not uid:
        raise ValueError("session Secret without name or uid")
    return name, uid


def _token_and_expiration(tr: dict[str, Any]) -> tuple[str, datetime]:
    status = tr.get("status")
    token = status.get("token") if isinstance(status, dict) else None
    stamp = status.get("expirationTimestamp") if isinstance(status, dict) else None
    if not isinstance(token, str) or not token or not isinstance(stamp, str):
        raise ValueError("TokenRequest without token or expirationTimestamp")
    # RFC 3339 as the apiserver writes it ("2026-11-24T10:11:52Z"); no dateutil needed.
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return token, when


def _target_error(env: Environment, e: ApiException) -> ApiError:
    status = kube.status_of(e)
    if status in (401, 403):
        return InternalError(f"environment {env.id}: broker credential rejected (HTTP {status})")
    if status >= 500 or status == 0 or status == 429:
        return ServiceUnavailable(f"environment {env.id}: cluster unavailable (HTTP {status})")
    return InternalError(f"environment {env.id}: cluster refused the request (HTTP {status})")

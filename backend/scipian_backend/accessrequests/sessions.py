"""Ending the credentials issued under one access request (change.md §9).

Every credential under a request comes from the identity of source `request:NAME` on the
Environment's target, its session Secrets labelled `scipian.io/access-request: NAME`
(identity/names.py). `revoke` deletes those Secrets first (each bound token stops at
once), then the identity itself (its bindings and ServiceAccount: any token of it
stops). The broker may do all of it (manifests/broker-role.yaml: list/delete Secrets in
the sessions namespace, delete ServiceAccounts and bindings; broker-policy.yaml: only
those labelled scipian.io/managed=true, which these are).

Used by the revoke and cancel routes before they answer, and by the worker at the
window's end, on terminal phases with sessions left, and before the finalizer goes.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.environments.store import Store
from scipian_backend.errors import ApiError, ServiceUnavailable
from scipian_backend.identity import names
from scipian_backend.minting.identities import Identities
from scipian_backend.minting.minter import Minter

log = logging.getLogger("scipian.accessrequests")


def request_key(obj: dict[str, Any]) -> names.IdentityKey | None:
    """The identity credentials under this request come from (None: not a request the
    backend could have issued under)."""
    meta = obj.get("metadata")
    spec = obj.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return None
    requester = spec.get("requester")
    name, env, level = meta.get("name"), spec.get("environment"), spec.get("level")
    user = requester.get("user") if isinstance(requester, dict) else None
    if not (isinstance(name, str) and isinstance(env, str) and isinstance(user, str)):
        return None
    if level not in ("read", "deploy") or not (name and env and user):
        return None
    return names.IdentityKey(env, str(level), user, names.request_source(name))


class RequestSessions:
    def __init__(self, store: Store, minter: Minter, namespace: str, timeout: float = 10.0):
        self._store = store
        self._minter = minter
        self._ns = namespace  # the sessions namespace on every target
        self._timeout = timeout

    def revoke(self, obj: dict[str, Any]) -> int:
        """Deletes the request's session Secrets on its Environment's target, then its
        identity; returns how many Secrets were deleted. ServiceUnavailable when the
        target could not be reached (nothing is claimed done then)."""
        key = request_key(obj)
        if key is None:
            return 0
        env = self._store.get(key.environment)
        if env is None:
            return 0  # unregistered: `unregister` removed the environment's identities
        try:
            target = self._minter.target(env)
            deleted = self._delete_sessions(target.api, key)
            Identities(target.api, self._ns, self._timeout).delete(key.account)
        except ApiError:
            raise
        except (ApiException, HTTPError, OSError, ValueError) as e:
            status = kube.status_of(e) if isinstance(e, ApiException) else 0
            log.warning(
                "access request %s: sessions on %s not deleted (%s%s)",
                names.request_of(key.source),
                key.environment,
                type(e).__name__,
                f" HTTP {status}" if status else "",
            )
            raise ServiceUnavailable(f"environment {env.id}: cluster unavailable") from None
        if deleted:
            log.info(
                "access request %s: %d session(s) on %s deleted",
                names.request_of(key.source),
                deleted,
                key.environment,
            )
        return deleted

    def _delete_sessions(self, api: client.ApiClient, key: names.IdentityKey) -> int:
        core = client.CoreV1Api(api)
        selector = names.access_request_selector(names.request_of(key.source))
        deleted = 0
        for secret in core.list_namespaced_secret(
            self._ns, label_selector=selector, _request_timeout=self._timeout
        ).items:
            try:
                core.delete_namespaced_secret(
                    secret.metadata.name, self._ns, _request_timeout=self._timeout
                )
                deleted += 1
            except ApiException as e:
                if kube.status_of(e) != 404:
                    raise
        return deleted

"""An identity's ServiceAccount and bindings on a target: ensure, reconcile, delete.

Used with the broker's credential by the minter (on issuance) and with the broker's or an
admin's by `update`, `unregister` and `upgrade-target`. Every object carries the
identity's labels (identity/names.py); the broker may delete only those
(manifests/broker-policy.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.identity import names
from scipian_backend.identity.names import BindingRef, IdentityKey

log = logging.getLogger("scipian.identities")


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


class Identities:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        timeout: float = 10.0,
        day: Callable[[], str] = today,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._rbac = client.RbacAuthorizationV1Api(api)
        self._ns = namespace
        self._timeout = timeout
        self._day = day

    # --- issuance ---------------------------------------------------------------------------

    def ensure(
        self,
        key: IdentityKey,
        cluster_role: str,
        namespaces: tuple[str, ...] | None,
        generation: int,
        environment_uid: str = "",
    ) -> bool:
        """The identity exists with the bindings of this Environment generation. Bindings
        are reconciled only when the ServiceAccount's generation annotation differs; the
        last-issued day is written at most once a day. True when the ServiceAccount was new
        (the caller then removes the user's objects of before identities)."""
        sa = self._read_account(key.account)
        created = sa is None
        if sa is None:
            sa = self._create_account(key)
        annotations = (sa.get("metadata") or {}).get("annotations") or {}
        patch: dict[str, str] = {}
        if (
            annotations.get(names.GENERATION_ANNOTATION) != str(generation)
            or annotations.get(names.ENVIRONMENT_UID_ANNOTATION, "") != environment_uid
        ):
            self.reconcile(key, names.desired_bindings(key, cluster_role, namespaces))
            patch[names.GENERATION_ANNOTATION] = str(generation)
            patch[names.ENVIRONMENT_UID_ANNOTATION] = environment_uid
        day = self._day()
        if annotations.get(names.LAST_ISSUED_DAY_ANNOTATION) != day:
            patch[names.LAST_ISSUED_DAY_ANNOTATION] = day
        if patch:
            self._core.patch_namespaced_service_account(
                key.account,
                self._ns,
                {"metadata": {"annotations": patch}},
                _request_timeout=self._timeout,
            )
        return created

    def reconcile(self, key: IdentityKey, desired: list[BindingRef]) -> None:
        """Creates the desired bindings that are missing and deletes the others."""
        existing = self.bindings(key.account)
        for b in names.stale_bindings(existing, desired):
            self.delete_binding(b)
        for b in names.missing_bindings(existing, desired):
            self._create_binding(key, b)

    def _read_account(self, name: str) -> dict[str, Any] | None:
        try:
            return kube.json_body(
                self._core.read_namespaced_service_account(
                    name, self._ns, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if kube.status_of(e) == 404:
                return None
            raise

    def _create_account(self, key: IdentityKey) -> dict[str, Any]:
        # No generation annotation yet: it is written once the bindings are in place.
        body = {
            "metadata": {
                "name": key.account,
                "labels": key.labels(),
                "annotations": key.annotations(),
            }
        }
        try:
            return kube.json_body(
                self._core.create_namespaced_service_account(
                    self._ns, body, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if kube.status_of(e) != 409:  # another request or replica created it
                raise
        found = self._read_account(key.account)
        if found is None:
            raise ValueError("ServiceAccount vanished while being created")
        return found

    def _create_binding(self, key: IdentityKey, b: BindingRef) -> None:
        body = {
            "metadata": {
                "name": b.name,
                "labels": key.labels(),
                "annotations": {**key.annotations(), names.ROLE_ANNOTATION: b.role},
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": b.role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": key.account, "namespace": self._ns}],
        }
        try:
            if b.namespace:
                self._rbac.create_namespaced_role_binding(
                    b.namespace, body, _request_timeout=self._timeout
                )
            else:
                self._rbac.create_cluster_role_binding(body, _request_timeout=self._timeout)
        except ApiException as e:
            if kube.status_of(e) != 409:
                raise

    # --- what exists ------------------------------------------------------------------------

    def bindings(self, account: str) -> list[BindingRef]:
        """The identity's bindings as they are; one whose subjects are not exactly its
        ServiceAccount counts with role "" (never desired: it is replaced)."""
        selector = names.identity_selector(account)
        crbs = self._rbac.list_cluster_role_binding(
            label_selector=selector, _request_timeout=self._timeout
        ).items
        rbs = self._rbac.list_role_binding_for_all_namespaces(
            label_selector=selector, _request_timeout=self._timeout
        ).items
        return [self._ref(b, account) for b in [*crbs, *rbs]]

    def _ref(self, binding: Any, account: str) -> BindingRef:
        subjects = [(s.kind, s.name, s.namespace) for s in binding.subjects or []]
        ours = subjects == [("ServiceAccount", account, self._ns)]
        role = binding.role_ref.name if ours and binding.role_ref.kind == "ClusterRole" else ""
        return BindingRef(binding.metadata.name, binding.metadata.namespace or "", role)

    def accounts(self, selector: str) -> list[Any]:
        return list(
            self._core.list_namespaced_service_account(
                self._ns, label_selector=selector, _request_timeout=self._timeout
            ).items
        )

    # --- removal ----------------------------------------------------------------------------

    def delete(self, account: str) -> None:
        """An identity and everything of it: bindings, session Secrets (their tokens stop
        at once), the ServiceAccount (every token of it stops)."""
        for b in self.bindings(account):
            self.delete_binding(b)
        selector = names.identity_selector(account)
        t = self._timeout
        for secret in self._core.list_namespaced_secret(
            self._ns, label_selector=selector, _request_timeout=t
        ).items:
            _gone(self._core.delete_namespaced_secret, secret.metadata.name, self._ns, t)
        _gone(self._core.delete_namespaced_service_account, account, self._ns, t)

    def delete_legacy(self, username: str) -> int:
        """The user's per-user objects of before identities (`scipian-u-*`, `scipian-d-*`
        and their bindings); their tokens, on every environment of this cluster, stop."""
        selector = names.legacy_selector(username)
        t = self._timeout
        deleted = 0
        for crb in self._rbac.list_cluster_role_binding(
            label_selector=selector, _request_timeout=t
        ).items:
            deleted += _gone(self._rbac.delete_cluster_role_binding, crb.metadata.name, None, t)
        for rb in self._rbac.list_role_binding_for_all_namespaces(
            label_selector=selector, _request_timeout=t
        ).items:
            deleted += _gone(
                self._rbac.delete_namespaced_role_binding,
                rb.metadata.name,
                rb.metadata.namespace,
                t,
            )
        for sa in self.accounts(selector):
            deleted += _gone(
                self._core.delete_namespaced_service_account, sa.metadata.name, self._ns, t
            )
        return deleted

    def delete_binding(self, b: BindingRef) -> None:
        if b.namespace:
            _gone(self._rbac.delete_namespaced_role_binding, b.name, b.namespace, self._timeout)
        else:
            _gone(self._rbac.delete_cluster_role_binding, b.name, None, self._timeout)


def _gone(delete: Callable[..., object], name: str, namespace: str | None, timeout: float) -> int:
    """1 when deleted, 0 when it was already gone."""
    try:
        if namespace is None:
            delete(name, _request_timeout=timeout)
        else:
            delete(name, namespace, _request_timeout=timeout)
        return 1
    except ApiException as e:
        if kube.status_of(e) != 404:
            raise
        return 0


def cleanup_environment(
    ids: Identities,
    env_id: str,
    read_role: str | None,
    deploy_role: str | None,
    deploy_namespaces: tuple[str, ...] = (),
) -> int:
    """After `update` (roles given) or `unregister` (both None): deletes the bindings of
    the environment's identities that the environment no longer grants, and the identities
    of a level it no longer has. Returns how many identities were touched."""
    touched = 0
    for sa in ids.accounts(names.environment_selector(env_id)):
        meta = sa.metadata
        labels = meta.labels or {}
        annotations = meta.annotations or {}
        level = labels.get(names.LEVEL_LABEL, "")
        user = annotations.get(names.USER_ANNOTATION, "")
        source = annotations.get(names.SOURCE_ANNOTATION, names.STANDING)
        key = IdentityKey(env_id, level, user, source)
        if key.account != meta.name:
            continue  # not one this environment's names lead to: leave it
        role = deploy_role if level == "deploy" else read_role
        if role is None:
            ids.delete(meta.name)
            touched += 1
            continue
        namespaces = deploy_namespaces if level == "deploy" else None
        desired = names.desired_bindings(key, role, namespaces)
        stale = names.stale_bindings(ids.bindings(meta.name), desired)
        for b in stale:
            ids.delete_binding(b)
        touched += bool(stale)
    return touched

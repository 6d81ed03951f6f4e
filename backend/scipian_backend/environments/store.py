"""The environment registry: Environment custom resources and their broker Secrets (mgmt).

An Environment uses a broker Secret only when the Secret is labelled with its own id
(ENVIRONMENT_LABEL, as `register` writes it) and holds a kubeconfig that
broker_kubeconfig.py accepts: a writer of Environment objects cannot point one at another
environment's broker, and a writer of Secrets cannot make the backend run a command.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import (
    DEFAULT_DEPLOY_ROLE,
    DEFAULT_MAX_ACCESS,
    DEFAULT_MAX_AUTH_AGE,
    ENVIRONMENT_LABEL,
    GROUP,
    MAX_ACCESS,
    MAX_AUTH_AGE,
    MIN_ACCESS,
    MIN_AUTH_AGE,
    MIN_TTL,
    PLURAL,
    VERSION,
)
from scipian_backend.environments.broker_kubeconfig import BrokerKubeconfigRefused, parse
from scipian_backend.errors import InternalError, ServiceUnavailable
from scipian_backend.kube import status_of


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    key: str = "kubeconfig"


@dataclass(frozen=True)
class Deploy:
    """spec.deploy: the second, stronger access level (docs/backend.md)."""

    cluster_role: str
    namespaces: tuple[str, ...]  # RoleBindings only there, never cluster-wide
    ttl_seconds: int = MIN_TTL
    max_auth_age_seconds: int = DEFAULT_MAX_AUTH_AGE  # step-up: a login no older than this
    require_promotion_from: str = ""  # deploy only inside a promotion (or break-glass)
    approvals_required: int = 0  # a promotion step's approvals; > 0 gates plain deploys too

    @property
    def gated(self) -> bool:
        """A promotion gate is set: deploy credentials only to a promotion's steps (or with
        break-glass)."""
        return bool(self.require_promotion_from) or self.approvals_required > 0


@dataclass(frozen=True)
class Environment:
    id: str
    uid: str
    description: str
    cluster_role: str
    ttl_seconds: int
    secret: SecretRef
    deploy: Deploy | None = None
    generation: int = 0  # metadata.generation: identities reconcile their bindings on change
    allow_privileged_role: bool = False  # registered with --allow-privileged-role
    # spec.maxAccessSeconds: the longest window of an access request (change.md §9)
    max_access_seconds: int = DEFAULT_MAX_ACCESS


@dataclass(frozen=True)
class BrokerCredential:
    """The broker kubeconfig text; resource_version keys client caches."""

    kubeconfig: str
    resource_version: str

    def __repr__(self) -> str:  # never print the credential, even in a traceback
        return f"BrokerCredential(resource_version={self.resource_version!r})"


def parse_environment(obj: dict[str, Any]) -> Environment:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    access = spec.get("access") or {}
    ref = spec.get("credentialsSecretRef") or {}
    ttl = access.get("ttlSeconds", 900)
    return Environment(
        id=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        description=str(spec.get("description", "")),
        cluster_role=str(access.get("clusterRole") or "view"),
        ttl_seconds=max(int(ttl), MIN_TTL) if isinstance(ttl, int) else 900,
        secret=SecretRef(
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            key=str(ref.get("key") or "kubeconfig"),
        ),
        deploy=parse_deploy(spec.get("deploy")),
        generation=_generation(meta.get("generation")),
        allow_privileged_role=spec.get("allowPrivilegedRole") is True,
        max_access_seconds=_max_access(spec.get("maxAccessSeconds")),
    )


def _max_access(raw: object) -> int:
    """spec.maxAccessSeconds within the CRD's bounds (an object written around the schema
    gets the nearest bound)."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        return DEFAULT_MAX_ACCESS
    return min(max(raw, MIN_ACCESS), MAX_ACCESS)


def _generation(raw: object) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def parse_deploy(raw: object) -> Deploy | None:
    """spec.deploy as stored; None when absent or unusable (the CRD validates it, so an
    unusable one means an object written around the schema: it grants nothing)."""
    if not isinstance(raw, dict):
        return None
    role = raw.get("clusterRole") or DEFAULT_DEPLOY_ROLE
    namespaces = raw.get("namespaces")
    if not isinstance(role, str) or not isinstance(namespaces, list) or not namespaces:
        return None
    if not all(isinstance(n, str) and n for n in namespaces):
        return None
    ttl = raw.get("ttlSeconds", MIN_TTL)
    age = raw.get("maxAuthAgeSeconds", DEFAULT_MAX_AUTH_AGE)
    approvals = raw.get("approvals")
    required = approvals.get("required", 0) if isinstance(approvals, dict) else 0
    promotion = raw.get("requirePromotionFrom") or ""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (ttl, age, required)):
        return None
    return Deploy(
        cluster_role=role,
        namespaces=tuple(sorted(set(namespaces))),
        ttl_seconds=max(ttl, MIN_TTL),
        max_auth_age_seconds=min(max(age, MIN_AUTH_AGE), MAX_AUTH_AGE),
        require_promotion_from=str(promotion),
        approvals_required=max(required, 0),
    )


class Store:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._custom = client.CustomObjectsApi(mgmt)
        self._core = client.CoreV1Api(mgmt)
        self._timeout = timeout
        # Secret (namespace, name, resourceVersion) → the env id whose checks it passed:
        # the policy parses YAML, too slow to repeat on every issuance.
        self._accepted: dict[tuple[str, str], tuple[str, str]] = {}

    def get(self, env_id: str) -> Environment | None:
        try:
            obj = self._custom.get_cluster_custom_object(
                GROUP, VERSION, PLURAL, env_id, _request_timeout=self._timeout
            )
        except (ApiException, HTTPError) as e:
            if status_of(e) == 404:
                return None
            raise ServiceUnavailable("management cluster unavailable") from None
        return parse_environment(obj)

    def list(self) -> list[Environment]:
        try:
            doc = self._custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, _request_timeout=self._timeout
            )
        except (ApiException, HTTPError):
            raise ServiceUnavailable("management cluster unavailable") from None
        envs = [parse_environment(o) for o in doc.get("items", [])]
        return sorted(envs, key=lambda e: e.id)

    def broker_credential(self, env: Environment) -> BrokerCredential:
        ref = env.secret
        try:
            secret = self._core.read_namespaced_secret(
                ref.name, ref.namespace, _request_timeout=self._timeout
            )
        except (ApiException, HTTPError) as e:
            if status_of(e) == 404:
                raise InternalError(f"environment {env.id}: credentials Secret missing") from None
            raise ServiceUnavailable("management cluster unavailable") from None
        labels = secret.metadata.labels or {}
        if labels.get(ENVIRONMENT_LABEL) != env.id:
            raise InternalError(
                f"environment {env.id}: its credentials Secret is not labelled "
                f"{ENVIRONMENT_LABEL}={env.id}"
            )
        data = (secret.data or {}).get(ref.key)
        if not data:
            raise InternalError(f"environment {env.id}: credentials Secret has no {ref.key!r}")
        cred = BrokerCredential(
            base64.b64decode(data).decode(errors="replace"), str(secret.metadata.resource_version)
        )
        key, seen = (ref.namespace, ref.name), (cred.resource_version, env.id)
        if self._accepted.get(key) != seen:
            try:
                parse(cred.kubeconfig)
            except BrokerKubeconfigRefused as e:
                raise InternalError(
                    f"environment {env.id}: broker kubeconfig refused: {e}"
                ) from None
            self._accepted[key] = seen
        return cred

    def ping(self) -> bool:
        try:
            self._custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, limit=1, _request_timeout=self._timeout
            )
        except (ApiException, HTTPError):
            return False
        return True

"""Admin use cases: register an environment, list them, revoke a user's sessions.

`register` uses the target cluster's ADMIN kubeconfig only to install the broker (a
ServiceAccount with the least-privilege role of manifests/broker-role.yaml and a token);
the management cluster then stores the BROKER kubeconfig, never the admin one.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.config import (
    BROKER_NAME,
    GROUP,
    KIND,
    MIN_TTL,
    SESSIONS_NAMESPACE,
    VERSION,
    valid_env_id,
)
from scipian_backend.environments import apply
from scipian_backend.environments.store import Environment, Store
from scipian_backend.errors import ConfigError
from scipian_backend.minting.sessions import revoke_sessions

BROKER_NAMESPACE = "scipian-system"  # on the target: the broker's own ServiceAccount
TOKEN_SECRET = "scipian-broker-token"  # noqa: S105 - a Secret name, not a secret
OBSERVER_ROLE = "scipian-observer"  # manifests/observer-role.yaml; new environments' default


@dataclass(frozen=True)
class Registration:
    name: str
    description: str
    cluster_role: str
    ttl_seconds: int
    namespace: str  # management namespace of the broker Secret
    sessions_namespace: str = SESSIONS_NAMESPACE

    def validate(self) -> None:
        if not valid_env_id(self.name):
            raise ConfigError(f"invalid environment name {self.name!r}: must be a DNS-1123 label")
        if self.ttl_seconds < MIN_TTL or self.ttl_seconds > 86400:
            raise ConfigError(f"--ttl must be between {MIN_TTL} and 86400 seconds")
        if not self.cluster_role or "/" in self.cluster_role:
            raise ConfigError(f"invalid cluster role {self.cluster_role!r}")
        if not valid_env_id(self.sessions_namespace) or not valid_env_id(self.namespace):
            raise ConfigError("namespaces must be DNS-1123 labels")


def register(mgmt: client.ApiClient, target_admin: client.ApiClient, reg: Registration) -> str:
    """Prepares the target, stores its broker kubeconfig and the Environment; returns server."""
    reg.validate()
    endpoint = kube.endpoint_of(target_admin)
    install_observer_role(target_admin)
    token = install_broker(target_admin, reg.cluster_role, reg.sessions_namespace)
    broker_kubeconfig = _broker_kubeconfig(reg.name, endpoint, token)
    _check_broker(broker_kubeconfig, reg.sessions_namespace)
    install_crd(mgmt)
    secret_name = f"{reg.name}-kubeconfig"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": reg.namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name,
                "namespace": reg.namespace,
                "labels": {"scipian.io/environment": reg.name},
            },
            "type": "Opaque",
            "data": {"kubeconfig": base64.b64encode(broker_kubeconfig.encode()).decode()},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": reg.name},
            "spec": {
                "description": reg.description,
                "credentialsSecretRef": {
                    "namespace": reg.namespace,
                    "name": secret_name,
                    "key": "kubeconfig",
                },
                "access": {"clusterRole": reg.cluster_role, "ttlSeconds": reg.ttl_seconds},
            },
        },
    ]
    for doc in docs:
        apply.apply(mgmt, doc)
    return endpoint.server


def install_crd(mgmt: client.ApiClient, timeout: float = 60.0) -> None:
    for doc in apply.manifest("crd.yaml"):
        apply.apply(mgmt, doc)
    custom = client.CustomObjectsApi(mgmt)
    deadline = time.monotonic() + timeout
    while True:  # the CRD serves once Established
        try:
            custom.list_cluster_custom_object(GROUP, VERSION, "environments", limit=1)
            return
        except ApiException as e:
            if kube.status_of(e) != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def broker_documents(
    bindable: list[str], sessions_namespace: str = SESSIONS_NAMESPACE
) -> list[dict[str, Any]]:
    """manifests/broker-role.yaml for these bindable roles and this sessions namespace."""
    docs = apply.manifest("broker-role.yaml")
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "Namespace" and meta["name"] == SESSIONS_NAMESPACE:
            meta["name"] = sessions_namespace
        if meta.get("namespace") == SESSIONS_NAMESPACE:
            meta["namespace"] = sessions_namespace
        if doc["kind"] == "ClusterRole":
            for rule in doc["rules"]:
                if "bind" in rule["verbs"]:
                    rule["resourceNames"] = sorted(set(bindable))
    return docs


def install_observer_role(admin: client.ApiClient) -> None:
    """manifests/observer-role.yaml on the target, whatever role this environment binds:
    it is there to be chosen."""
    for doc in apply.manifest("observer-role.yaml"):
        apply.apply(admin, doc)


def role_for(requested: str | None, existing: str | None) -> str:
    """--cluster-role when given; else the environment keeps its role; a new one observes."""
    return requested or existing or OBSERVER_ROLE


def install_broker(admin: client.ApiClient, cluster_role: str, sessions_namespace: str) -> str:
    """Applies the broker's role and returns its long-lived token."""
    bindable = {cluster_role} | _bindable_now(admin)
    for doc in broker_documents(sorted(bindable), sessions_namespace):
        apply.apply(admin, doc)
    return _wait_token(client.CoreV1Api(admin))


def _bindable_now(admin: client.ApiClient) -> set[str]:
    """Roles already bindable (other environments on the same cluster keep theirs)."""
    try:
        role = client.RbacAuthorizationV1Api(admin).read_cluster_role(BROKER_NAME)
    except ApiException as e:
        if kube.status_of(e) == 404:
            return set()
        raise
    names: set[str] = set()
    for rule in role.rules or []:
        if "bind" in (rule.verbs or []):
            names |= set(rule.resource_names or [])
    return names


def _wait_token(core: client.CoreV1Api, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        secret = core.read_namespaced_secret(TOKEN_SECRET, BROKER_NAMESPACE)
        token = (secret.data or {}).get("token")
        if token:
            return base64.b64decode(token).decode()
        if time.monotonic() > deadline:
            raise ConfigError(
                "target cluster: the token controller did not fill the broker token "
                "(is kube-controller-manager running?)"
            )
        time.sleep(0.2)


def _broker_kubeconfig(name: str, endpoint: kube.ClusterEndpoint, token: str) -> str:
    cluster: dict[str, Any] = {"server": endpoint.server}
    if endpoint.ca_data:
        cluster["certificate-authority-data"] = endpoint.ca_data
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{BROKER_NAME}@{name}", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{BROKER_NAME}@{name}"}}],
        "current-context": name,
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def _check_broker(kubeconfig: str, sessions_namespace: str, timeout: float = 30.0) -> None:
    """The broker can reach its namespace (RBAC caches may lag the apply by a moment)."""
    core = client.CoreV1Api(kube.from_kubeconfig_dict(yaml.safe_load(kubeconfig)))
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account("scipian-probe", sessions_namespace)
            return
        except ApiException as e:
            if kube.status_of(e) == 404:
                return
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"target cluster: the broker credential does not work (HTTP {e.status})"
                ) from None
        time.sleep(0.2)


def list_environments(mgmt: client.ApiClient) -> list[Environment]:
    return Store(mgmt).list()


def normalize_user(user: str, prefix: str) -> str:
    """`alice@example.test` and `oidc:alice@example.test` name the same user."""
    return user if user.startswith(prefix) else prefix + user


def revoke(mgmt: client.ApiClient, env_id: str, username: str, sessions_namespace: str) -> int:
    if not valid_env_id(env_id):
        raise ConfigError(f"invalid environment name {env_id!r}")
    store = Store(mgmt)
    env = store.get(env_id)
    if env is None:
        raise ConfigError(f"no environment {env_id}")
    cred = store.broker_credential(env)
    try:
        target = kube.from_kubeconfig_dict(yaml.safe_load(cred.kubeconfig))
    except Exception:
        raise ConfigError(f"environment {env_id}: broker kubeconfig unusable") from None
    return revoke_sessions(target, sessions_namespace, username)

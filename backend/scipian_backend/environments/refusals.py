"""What `register` and `update` refuse: the foot-guns of change.md §10 (security review M6).

Deploy namespaces: `kube-*` and `default` (the cluster's own), the sessions namespace (the
per-user ServiceAccounts: `edit` there mints any user's token), `scipian-system` on the
target (the broker's token, and through it the release reader's), and, when the target
is the management cluster itself, the namespace of the broker Secrets (every target's
broker). Roles, at either level: `cluster-admin`, `admin` and any ClusterRole whose rules
(read from the target, or from our manifests before they are installed) allow
`escalate`, `bind` or `impersonate`, or `*` verbs on what those apply to, unless the
admin says `--allow-privileged-role` (recorded on the Environment, shown by `list`).

The pure checks run before any cluster is touched; `check_target` only reads, so a
refusal writes nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.errors import ConfigError

BROKER_NAMESPACE = "scipian-system"  # on every target: the broker's ServiceAccount
PRIVILEGED_ROLES = ("cluster-admin", "admin")
PRIVILEGED_VERBS = ("escalate", "bind", "impersonate")
RBAC_GROUPS = {"rbac.authorization.k8s.io", "*"}
RBAC_RESOURCES = {"roles", "clusterroles", "*"}
IDENTITY_GROUPS = {"", "authentication.k8s.io", "*"}
IDENTITY_RESOURCES = {"users", "groups", "serviceaccounts", "uids", "userextras", "*"}
ALLOW_FLAG = "--allow-privileged-role"


def namespace_problem(namespace: str, sessions_namespace: str) -> str | None:
    """Why a deploy namespace is refused on any target (None: it is not)."""
    if namespace.startswith("kube-") or namespace == "default":
        return "it is the cluster's own"
    if namespace == sessions_namespace:
        return "it is the sessions namespace (everyone's ServiceAccounts)"
    if namespace == BROKER_NAMESPACE:
        return "it holds the broker's ServiceAccount and token on the target"
    return None


def check_namespaces(namespaces: Iterable[str], sessions_namespace: str) -> None:
    for namespace in namespaces:
        why = namespace_problem(namespace, sessions_namespace)
        if why:
            raise ConfigError(f"deploy namespace {namespace} refused: {why}")


def check_role_names(roles: Iterable[str], allow_privileged: bool) -> None:
    if allow_privileged:
        return
    for role in roles:
        if role in PRIVILEGED_ROLES:
            raise ConfigError(f"ClusterRole {role} refused: {_privileged(role)}")


def privileged_rule(rule: dict[str, Any]) -> bool:
    """A rule allowing escalate, bind or impersonate, by name or by `*` on what they apply
    to (roles and clusterroles; users, groups, serviceaccounts, uids, userextras)."""
    verbs = set(rule.get("verbs") or [])
    if verbs & set(PRIVILEGED_VERBS):
        return True
    if "*" not in verbs or rule.get("nonResourceURLs"):
        return False
    groups = set(rule.get("apiGroups") or [])
    resources_ = {str(r).split("/")[0] for r in rule.get("resources") or []}
    return bool(
        (groups & RBAC_GROUPS and resources_ & RBAC_RESOURCES)
        or (groups & IDENTITY_GROUPS and resources_ & IDENTITY_RESOURCES)
    )


def check_target(
    mgmt: client.ApiClient,
    target: client.ApiClient,
    *,
    roles: Iterable[str],
    deploy_namespaces: Iterable[str],
    secrets_namespace: str,
    allow_privileged: bool,
    timeout: float = 30.0,
) -> None:
    """The refusals that need the clusters (reads only)."""
    server = kube.endpoint_of(target).server
    if not server.startswith("https://"):
        raise ConfigError(
            "the target's server is not an https:// URL: the backend refuses such a "
            "broker kubeconfig"
        )
    if secrets_namespace in deploy_namespaces and _same_cluster(mgmt, target, timeout):
        raise ConfigError(
            f"deploy namespace {secrets_namespace} refused: the target is the management "
            "cluster and it holds the broker kubeconfigs"
        )
    if allow_privileged:
        return
    for role in dict.fromkeys(roles):
        rules = _rules(target, role, timeout)
        if rules is None:
            raise ConfigError(f"ClusterRole {role} does not exist on the target (create it first)")
        if any(privileged_rule(r) for r in rules):
            raise ConfigError(f"ClusterRole {role} refused: {_privileged(role)}")


def _privileged(role: str) -> str:
    return (
        "it allows escalate, bind or impersonate (rights beyond its own); "
        f"{ALLOW_FLAG} accepts it and records that on the Environment"
    )


def _rules(target: client.ApiClient, role: str, timeout: float) -> list[dict[str, Any]] | None:
    """The role's rules on the target and, for a role our manifests install, theirs too
    (a first registration checks it before installing it). None: no such role."""
    shipped = _shipped_rules(role)
    try:
        resp = client.RbacAuthorizationV1Api(target).read_cluster_role(
            role, _request_timeout=timeout, _preload_content=False
        )
        found: list[dict[str, Any]] = kube.json_body(resp).get("rules") or []
    except ApiException as e:
        if kube.status_of(e) != 404:
            raise
        return shipped
    return found + (shipped or [])


def _shipped_rules(role: str) -> list[dict[str, Any]] | None:
    """Every ClusterRole rule of the manifest that defines `role` (its aggregated parts
    live beside it)."""
    from scipian_backend.environments import apply

    folder = resources.files("scipian_backend").joinpath("manifests")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        roles = [d for d in apply.manifest(entry.name) if d.get("kind") == "ClusterRole"]
        if any(d["metadata"]["name"] == role for d in roles):
            return [rule for d in roles for rule in d.get("rules") or []]
    return None


def _same_cluster(a: client.ApiClient, b: client.ApiClient, timeout: float) -> bool:
    """Both clients reach one cluster: the same kube-system namespace uid (else, unreadable,
    the same server URL)."""
    try:
        uids = [
            str(
                client.CoreV1Api(api)
                .read_namespace("kube-system", _request_timeout=timeout)
                .metadata.uid
            )
            for api in (a, b)
        ]
        return bool(uids[0] == uids[1])
    except (ApiException, HTTPError):
        host = [str(api.configuration.host).rstrip("/").lower() for api in (a, b)]
        return host[0] == host[1]

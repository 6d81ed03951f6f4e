"""Registration's refusals and the broker kubeconfig policy (pure parts; the e2e side is
tests/e2e/test_register_refusals.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from scipian_backend.environments import broker_kubeconfig, refusals
from scipian_backend.environments.admin import Registration
from scipian_backend.environments.store import Deploy, parse_environment
from scipian_backend.errors import ConfigError

BROKER: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [
        {
            "name": "dev",
            "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": "Q0E="},
        }
    ],
    "users": [{"name": "b@dev", "user": {"token": "s3cr3t-token"}}],
    "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "b@dev"}}],
    "current-context": "dev",
}


def changed(path: tuple[Any, ...], value: Any) -> str:
    doc = copy.deepcopy(BROKER)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return str(yaml.safe_dump(doc))


def test_what_register_writes_is_accepted() -> None:
    assert broker_kubeconfig.parse(yaml.safe_dump(BROKER)) == BROKER
    cert = changed(
        ("users", 0, "user"), {"client-certificate-data": "Yw==", "client-key-data": "aw=="}
    )
    assert broker_kubeconfig.parse(cert)["users"][0]["user"]["client-key-data"] == "aw=="


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            changed(("users", 0, "user"), {"exec": {"command": "sh", "args": ["-c", "id"]}}),
            "its user has exec (only an inline token or client certificate is accepted)",
        ),
        (
            changed(("users", 0, "user", "auth-provider"), {"name": "gcp"}),
            "its user has auth-provider",
        ),
        (changed(("users", 0, "user"), {"tokenFile": "/etc/passwd"}), "its user has tokenFile"),
        (
            changed(("users", 0, "user"), {"client-certificate": "/c", "client-key": "/k"}),
            "its user has client-certificate",
        ),
        (changed(("users", 0, "user", "username"), "u"), "its user has username"),
        (changed(("users", 0, "user", "as"), "system:admin"), "its user has as"),
        (changed(("users", 0, "user"), {}), "its user has neither"),
        (changed(("users", 0, "user", "token"), 5), "its user's credential is not text"),
        (
            changed(
                ("clusters", 0, "cluster", "certificate-authority"),
                "/var/run/secrets/kubernetes.io/serviceaccount/token",
            ),
            "its cluster has certificate-authority",
        ),
        (
            changed(("clusters", 0, "cluster", "insecure-skip-tls-verify"), True),
            "its cluster has insecure",
        ),
        (changed(("clusters", 0, "cluster", "proxy-url"), "http://p"), "its cluster has proxy-url"),
        (
            changed(("clusters", 0, "cluster", "server"), "http://10.0.0.1"),
            "its server is not an https",
        ),
        (changed(("users",), BROKER["users"] * 2), "it does not hold exactly one"),
        (changed(("current-context",), "other"), "its current context is not its context"),
        (changed(("contexts", 0, "context", "extensions"), []), "its context has extensions"),
        (changed(("extensions",), []), "it has extensions"),
        ("a: [", "it is not valid YAML"),
        ("- 1", "it is not a kubeconfig"),
    ],
)
def test_refused_broker_kubeconfigs(text: str, why: str) -> None:
    with pytest.raises(broker_kubeconfig.BrokerKubeconfigRefused) as e:
        broker_kubeconfig.parse(text)
    assert str(e.value).startswith(why)
    assert "s3cr3t" not in str(e.value)


def reg(**kw: Any) -> Registration:
    base: dict[str, Any] = {
        "name": "dev",
        "description": "",
        "cluster_role": "view",
        "ttl_seconds": 900,
        "namespace": "scipian-system",
    }
    return Registration(**{**base, **kw})


@pytest.mark.parametrize(
    ("namespace", "why"),
    [
        ("kube-system", "it is the cluster's own"),
        ("kube-public", "it is the cluster's own"),
        ("default", "it is the cluster's own"),
        ("scipian-sessions", "it is the sessions namespace"),
        ("scipian-system", "it holds the broker's ServiceAccount"),
    ],
)
def test_refused_deploy_namespaces(namespace: str, why: str) -> None:
    deploy = Deploy(cluster_role="view", namespaces=("shop", namespace))
    with pytest.raises(ConfigError) as e:
        reg(deploy=deploy).validate()
    assert str(e.value).startswith(f"deploy namespace {namespace} refused: {why}")


def test_custom_sessions_namespace_is_refused_too() -> None:
    deploy = Deploy(cluster_role="view", namespaces=("sessions-x",))
    with pytest.raises(ConfigError, match="sessions namespace"):
        reg(deploy=deploy, sessions_namespace="sessions-x").validate()
    reg(
        deploy=Deploy(cluster_role="view", namespaces=("scipian-sessions",)),
        sessions_namespace="sessions-x",
    ).validate()


@pytest.mark.parametrize("role", ["cluster-admin", "admin"])
def test_privileged_role_names_need_the_flag(role: str) -> None:
    with pytest.raises(ConfigError, match=f"ClusterRole {role} refused: .*--allow-privileged-role"):
        reg(cluster_role=role).validate()
    with pytest.raises(ConfigError, match=f"ClusterRole {role} refused"):
        reg(deploy=Deploy(cluster_role=role, namespaces=("shop",))).validate()
    reg(cluster_role=role, allow_privileged_role=True).validate()


@pytest.mark.parametrize(
    ("rule", "privileged"),
    [
        ({"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}, True),
        (
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
            },
            True,
        ),
        (
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles"],
                "verbs": ["escalate"],
            },
            True,
        ),
        ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, True),
        (
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["*"]},
            True,
        ),
        ({"apiGroups": [""], "resources": ["users"], "verbs": ["*"]}, True),
        (
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["userextras/scopes"],
                "verbs": ["*"],
            },
            True,
        ),
        ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, False),
        ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}, False),
        (
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles"],
                "verbs": ["get", "create"],
            },
            False,
        ),
        ({"nonResourceURLs": ["*"], "verbs": ["*"]}, False),
    ],
)
def test_privileged_rules(rule: dict[str, Any], privileged: bool) -> None:
    assert refusals.privileged_rule(rule) is privileged


def test_shipped_roles_are_checked_before_they_are_installed() -> None:
    observer = refusals._shipped_rules("scipian-observer")
    assert observer and not any(refusals.privileged_rule(r) for r in observer)
    broker = refusals._shipped_rules("scipian-broker")
    assert broker and any(refusals.privileged_rule(r) for r in broker)  # it may bind
    assert refusals._shipped_rules("no-such-role") is None


def test_allow_privileged_role_is_read_from_the_spec() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "dev", "uid": "u"},
        "spec": {"credentialsSecretRef": {"namespace": "ns", "name": "dev-kubeconfig"}},
    }
    assert parse_environment(obj).allow_privileged_role is False
    obj["spec"]["allowPrivilegedRole"] = True
    assert parse_environment(obj).allow_privileged_role is True
    obj["spec"]["allowPrivilegedRole"] = "true"  # only the boolean, as the schema has it
    assert parse_environment(obj).allow_privileged_role is False

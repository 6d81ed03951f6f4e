"""Pure helpers of the backend: names, env ids, kubeconfig text, manifests, metrics, audit."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from scipian_backend.audit.records import Record
from scipian_backend.config import valid_env_id
from scipian_backend.environments.admin import Registration, broker_documents, normalize_user
from scipian_backend.environments.apply import object_path
from scipian_backend.environments.store import BrokerCredential, parse_environment
from scipian_backend.errors import ConfigError
from scipian_backend.identity import names
from scipian_backend.kube import ClusterEndpoint
from scipian_backend.metrics import Metrics
from scipian_backend.minting.kubeconfig import kubeconfig_text
from tests.prometheus_text import sample

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("env_id", ["dev", "prod-eu", "a", "0", "a" * 63, "a-1"])
def test_valid_env_ids(env_id: str) -> None:
    assert valid_env_id(env_id)


@pytest.mark.parametrize("env_id", ["", "Dev", "-a", "a-", "a_b", "a.b", "a/b", "a" * 64, " a"])
def test_invalid_env_ids(env_id: str) -> None:
    assert not valid_env_id(env_id)


@pytest.mark.parametrize(
    "user", ["oidc:alice@example.test", "oidc:ÄÖ Ü", "x" * 500, "oidc:a/b:c", ""]
)
def test_names_are_dns_labels_and_stable(user: str) -> None:
    key = names.IdentityKey("a" * 63, "deploy", user)
    sa = key.account
    assert DNS1123.match(sa) and len(sa) <= 63
    assert sa == names.IdentityKey("a" * 63, "deploy", user).account
    binding = key.binding_name("view")
    assert DNS1123.match(binding) and len(binding) <= 63
    assert key.binding_name("view") != key.binding_name("edit")
    assert len(key.session_prefix) + 5 <= 63  # generateName's five characters
    assert len(names.user_hash(user)) <= 63  # a valid label value


def test_different_users_different_names() -> None:
    users = [f"oidc:user{i}@example.test" for i in range(2000)]
    assert len({names.IdentityKey("dev", "read", u).account for u in users}) == 2000


def test_kubeconfig_text() -> None:
    text = kubeconfig_text("dev", ClusterEndpoint("https://127.0.0.1:6443", "Q0E="), "tok")
    doc = json.loads(text)
    assert yaml.safe_load(text) == doc  # JSON text, read by YAML parsers (kubectl's) alike
    assert doc["current-context"] == "dev"
    assert doc["clusters"] == [
        {
            "name": "dev",
            "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="},
        }
    ]
    assert doc["users"] == [{"name": "dev", "user": {"token": "tok"}}]
    assert doc["contexts"] == [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}]


def test_parse_environment_defaults_and_floor() -> None:
    env = parse_environment(
        {
            "metadata": {"name": "dev", "uid": "u"},
            "spec": {
                "credentialsSecretRef": {"namespace": "ns", "name": "dev-kubeconfig"},
                "access": {"ttlSeconds": 60},
            },
        }
    )
    assert env.cluster_role == "view"
    assert env.ttl_seconds == 600  # never below the TokenRequest minimum
    assert env.secret.key == "kubeconfig"


def test_broker_credential_repr_hides_the_kubeconfig() -> None:
    cred = BrokerCredential("token: s3cr3t", "42")
    assert "s3cr3t" not in repr(cred) and "s3cr3t" not in str(cred)


def test_broker_documents_bind_only_named_roles() -> None:
    docs = broker_documents(["view", "edit"], "sessions-x")
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    bind = [r for r in role["rules"] if "bind" in r["verbs"]]
    assert bind == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["edit", "view"],
        }
    ]
    # Nothing cluster-wide beyond bindings; no wildcard anywhere.
    for doc in docs:
        for rule in doc.get("rules", []):
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
            if doc["kind"] == "ClusterRole":
                assert set(rule["resources"]) <= {
                    "clusterrolebindings",
                    "clusterroles",
                    "rolebindings",  # list and delete only (identities' cleanup), fenced
                }
                if rule["resources"] == ["rolebindings"]:
                    assert rule["verbs"] == ["list", "delete"]
    ns_role = next(d for d in docs if d["kind"] == "Role")
    assert ns_role["metadata"]["namespace"] == "sessions-x"
    assert {r for rule in ns_role["rules"] for r in rule["resources"]} == {
        "serviceaccounts",
        "serviceaccounts/token",
        "secrets",
    }


def test_object_paths() -> None:
    assert (
        object_path({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
        == "/api/v1/namespaces/a"
    )
    assert (
        object_path(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "r", "namespace": "n"},
            }
        )
        == "/apis/rbac.authorization.k8s.io/v1/namespaces/n/roles/r"
    )


@pytest.mark.parametrize(
    ("reg", "ok"),
    [
        (Registration("dev", "", "view", 900, "scipian-system"), True),
        (Registration("Dev", "", "view", 900, "scipian-system"), False),
        (Registration("dev", "", "view", 599, "scipian-system"), False),
        (Registration("dev", "", "", 900, "scipian-system"), False),
        (Registration("dev", "", "view", 900, "Bad NS"), False),
    ],
)
def test_registration_validation(reg: Registration, ok: bool) -> None:
    if ok:
        reg.validate()
    else:
        with pytest.raises(ConfigError):
            reg.validate()


def test_normalize_user() -> None:
    assert normalize_user("alice@example.test", "oidc:") == "oidc:alice@example.test"
    assert normalize_user("oidc:alice@example.test", "oidc:") == "oidc:alice@example.test"


def test_metrics_render() -> None:
    m = Metrics(detail=True)  # serve --metrics-detail: environment ids in labels
    m.request("/x", 200, 0.003)
    m.request("/x", 403, 2.0)
    m.issuance("dev")
    m.denial("forbidden")
    text = m.render()
    assert sample(text, "scipian_requests_total", route="/x", code="200") == 1
    assert sample(text, "scipian_requests_total", route="/x", code="403") == 1
    assert sample(text, "scipian_issuances_total", environment="dev") == 1
    assert sample(text, "scipian_denials_total", reason="forbidden") == 1
    assert sample(text, "scipian_request_duration_seconds_bucket", le="0.005") == 1
    assert sample(text, "scipian_request_duration_seconds_bucket", le="2.5") == 2
    assert sample(text, "scipian_request_duration_seconds_bucket", le="+Inf") == 2
    assert sample(text, "scipian_request_duration_seconds_count") == 2
    assert "# TYPE scipian_request_duration_seconds histogram" in text


def test_metrics_are_per_instance_with_the_text_formats_content_type() -> None:
    first, second = Metrics(True), Metrics(True)  # two apps in one process: no registry clash
    first.issuance("dev")
    body, content_type = second.exposition()
    assert sample(body.decode(), "scipian_issuances_total", environment="dev") == 0
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    # A label value with quotes and newlines stays one sample (the exposition escapes it).
    first.request('/a"b\nc', 200, 0.1)
    assert sample(first.render(), "scipian_requests_total", route='/a"b\nc') == 1


def test_audit_line_fields() -> None:
    line = Record(
        event="issuance",
        request_id="r1",
        outcome="issued",
        environment="dev",
        user="oidc:a",
        groups=("oidc:g",),
        expiration_timestamp="2026-01-01T00:00:00Z",
        service_account="scipian-u-x",
    ).line()
    doc = json.loads(line)
    assert "\n" not in line
    assert set(doc) == {
        "time",
        "event",
        "requestId",
        "user",
        "groups",
        "environment",
        "outcome",
        "reason",
        "expirationTimestamp",
        "serviceAccount",
        "level",
        "justification",
        "authTime",
    }
    assert doc["groups"] == ["oidc:g"]


def test_register_role_observer_for_new_environments_existing_keep_theirs() -> None:
    from scipian_backend.environments.admin import OBSERVER_ROLE, role_for

    assert role_for(None, None) == OBSERVER_ROLE == "scipian-observer"
    assert role_for(None, "view") == "view"  # an existing environment keeps its role
    assert role_for("edit", "view") == "edit"  # unless told otherwise
    assert role_for("view", None) == "view"


def test_observer_role_grants_no_secrets_exec_attach_portforward_or_tokens() -> None:
    from scipian_backend.environments.apply import manifest

    docs = manifest("observer-role.yaml")
    granted = {
        (group, resource)
        for doc in docs
        for rule in doc.get("rules") or []
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for rule in (r for d in docs for r in d.get("rules") or []):
        assert set(rule["verbs"]) == {"get", "list", "watch"}
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert not any("/" in r for r in rule["resources"])  # no subresource (nodes/proxy)
    assert ("", "secrets") not in granted
    assert {
        ("", "nodes"),
        ("", "persistentvolumes"),
        ("storage.k8s.io", "storageclasses"),
    } <= granted


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/environments/dev/kubeconfig",
        "/api/v1/environments//kubeconfig",
        "/api/v1/environments/a/b/kubeconfig",
        "/api/v1/environments/dev/kubeconfig/",
        "/api/v1/environments/dev/kubeconfig/kubeconfig",
        "/api/v1/environments/dev",
        "/api/v1/environments/kubeconfig",
        "/api/v1/environments/DEV%2F/kubeconfig",
    ],
)
def test_issuance_route_matches_what_the_declared_route_matches(path: str) -> None:
    """http/issuance.py answers exactly the requests the app's declared route would get."""
    from starlette.routing import compile_path

    from scipian_backend.http.issuance import PATH, ROUTE

    declared, _, _ = compile_path(ROUTE)
    mine, theirs = PATH.match(path), declared.match(path)
    assert bool(mine) == bool(theirs)
    if mine and theirs:
        assert mine[1] == theirs["env_id"]

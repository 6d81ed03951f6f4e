"""Identities per (environment, level, user, source): names, labels, reconciliation sets
(identity/names.py), and the manifests that fence them (pure; no cluster)."""

from __future__ import annotations

import re

import pytest

from scipian_backend.environments import admin, apply
from scipian_backend.environments.store import Deploy, Environment, SecretRef
from scipian_backend.environments.upgrade import role_changes
from scipian_backend.identity import names
from scipian_backend.identity.names import BindingRef, IdentityKey

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
ALICE = "oidc:alice@example.test"


def test_every_part_of_the_key_gives_another_identity() -> None:
    keys = [
        IdentityKey("dev", "read", ALICE),
        IdentityKey("ops", "read", ALICE),  # another environment on the same cluster
        IdentityKey("dev", "deploy", ALICE),
        IdentityKey("dev", "read", "oidc:bob@example.test"),
        IdentityKey("dev", "read", ALICE, "request:alice-dev-1"),
        IdentityKey("dev", "deploy", ALICE, "promotion:p1:dev"),
    ]
    assert len({k.account for k in keys}) == len(keys)
    assert len({k.binding_name("edit") for k in keys}) == len(keys)
    # Never the per-user names of before (identity version 1).
    assert not any(re.fullmatch(r"scipian-[ud]-[0-9a-f]{20}", k.account) for k in keys)


def test_truncated_environment_ids_still_differ() -> None:
    a, b = "x" * 40 + "a", "x" * 40 + "b"
    assert IdentityKey(a, "read", ALICE).account != IdentityKey(b, "read", ALICE).account
    assert IdentityKey(a, "read", ALICE).account.startswith("scipian-" + "x" * 23 + "-r-")


@pytest.mark.parametrize(
    "source", ["rbac", "request:a-very-long-access-request-name-" + "z" * 80, "promotion:p:dev"]
)
def test_labels_are_valid_label_values(source: str) -> None:
    labels = IdentityKey("e" * 63, "deploy", "oidc:ÄÖ Ü/" + "x" * 300, source).labels()
    assert labels[names.SCIPIAN_MANAGED] == "true"
    assert labels[names.ENVIRONMENT_LABEL] == "e" * 63
    for value in labels.values():
        assert LABEL_VALUE.fullmatch(value) and len(value) <= 63, value
    assert names.label_value("promotion:p:dev") == "promotion.p.dev"


def test_desired_bindings_per_level() -> None:
    key = IdentityKey("dev", "deploy", ALICE)
    read = names.desired_bindings(key, "view", None)
    assert read == [BindingRef(key.binding_name("view"), "", "view")]
    deploy = names.desired_bindings(key, "scipian-deployer", ("shop", "cart", "shop"))
    assert [b.namespace for b in deploy] == ["cart", "shop"]


def test_reconciliation_sets() -> None:
    key = IdentityKey("dev", "deploy", ALICE)
    desired = names.desired_bindings(key, "scipian-deployer", ("shop",))
    old_role = BindingRef(key.binding_name("edit"), "shop", "edit")
    removed_ns = BindingRef(key.binding_name("scipian-deployer"), "cart", "scipian-deployer")
    foreign_subject = BindingRef(key.binding_name("scipian-deployer"), "shop", "")
    existing = [old_role, removed_ns, foreign_subject]
    assert names.stale_bindings(existing, desired) == existing
    assert names.missing_bindings(existing, desired) == desired
    assert names.stale_bindings(desired, desired) == []
    assert names.missing_bindings(desired, desired) == []


def test_legacy_selector_excludes_managed_identities() -> None:
    selector = names.legacy_selector(ALICE)
    assert selector == f"{names.USER_HASH_LABEL}={names.user_hash(ALICE)},!scipian.io/managed"


def _env(role: str, deploy_role: str | None) -> Environment:
    deploy = Deploy(cluster_role=deploy_role, namespaces=("shop",)) if deploy_role else None
    return Environment("dev", "uid", "", role, 900, SecretRef("ns", "dev-kubeconfig"), deploy)


def test_upgrade_moves_edit_off_both_levels_unless_kept() -> None:
    assert role_changes(_env("edit", "edit"), keep_role=False) == {
        "cluster_role": "scipian-deployer",
        "deploy": {"cluster_role": "scipian-deployer"},
    }
    assert role_changes(_env("view", "edit"), keep_role=False) == {
        "deploy": {"cluster_role": "scipian-deployer"}
    }
    assert role_changes(_env("view", "scipian-deployer"), keep_role=False) == {}
    assert role_changes(_env("edit", "edit"), keep_role=True) == {"allow_privileged_role": True}
    assert role_changes(_env("view", "scipian-deployer"), keep_role=True) == {}
    assert role_changes(_env("view", None), keep_role=False) == {}


def test_new_deploy_levels_default_to_the_deployer_role() -> None:
    env = _env("view", None)
    reg = admin.updated(env, {"deploy": {"namespaces": ["shop"]}})
    assert reg.deploy is not None and reg.deploy.cluster_role == "scipian-deployer"


def test_broker_may_list_and_delete_identities_only_through_its_fence() -> None:
    docs = admin.broker_documents(["view"], "sessions-x")
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    verbs = {r["resources"][0]: set(r["verbs"]) for r in cluster_role["rules"]}
    assert {"list", "delete"} <= verbs["clusterrolebindings"]
    assert verbs["rolebindings"] == {"list", "delete"}
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == "sessions-x"
    sa_verbs = next(set(r["verbs"]) for r in role["rules"] if r["resources"] == ["serviceaccounts"])
    assert {"list", "delete", "patch"} <= sa_verbs
    [policy, binding] = apply.manifest("broker-policy.yaml")
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["validationActions"] == ["Deny"]
    text = policy["spec"]["validations"][0]["expression"]
    assert "'scipian.io/managed'" in text and "oldObject" in text


def test_deployer_policy_follows_the_sessions_namespace() -> None:
    docs = admin.deployer_policy_documents("my-sessions")
    [cond] = docs[0]["spec"]["matchConditions"]
    assert cond["expression"] == (
        "request.userInfo.username.startsWith('system:serviceaccount:my-sessions:')"
    )
    assert "3607" in " ".join(v["expression"] for v in docs[0]["spec"]["validations"])


def test_deployer_role_has_no_token_rights() -> None:
    role, base = apply.manifest("deployer-role.yaml")
    assert role["metadata"]["name"] == "scipian-deployer"
    selectors = [s["matchLabels"] for s in role["aggregationRule"]["clusterRoleSelectors"]]
    assert {"scipian.io/aggregate-to-deployer": "true"} in selectors
    for rule in base["rules"]:
        assert "impersonate" not in rule["verbs"]
        assert "serviceaccounts/token" not in rule["resources"]
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]

"""The listing's RBAC index (identity/rbac_index.py): which rules reach environments, and
which candidates a caller's bindings give, as RBAC's own matching would."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from scipian_backend.identity.authn import Identity
from scipian_backend.identity.rbac_index import (
    CREATE_DEPLOY,
    GET_KUBECONFIG,
    REQUEST_DEPLOY,
    REQUEST_READ,
    Binding,
    RbacIndex,
    Reach,
    parse_binding,
    role_reaches,
    rule_reach,
)

ALICE = Identity("oidc:alice@example.test", ("oidc:team-a",), "sub-alice")


def rule(
    resources: list[str],
    verbs: list[str] | None = None,
    groups: list[str] | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "apiGroups": groups if groups is not None else ["scipian.io"],
        "resources": resources,
        "verbs": verbs if verbs is not None else ["get"],
    }
    if names is not None:
        r["resourceNames"] = names
    return r


def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "rules": list(rules)}


def binding(name: str, role_name: str, *subjects: dict[str, Any], kind: str = "ClusterRole"):
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }


def user(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def test_a_rule_with_resource_names_reaches_those_names() -> None:
    r = rule(["environments/kubeconfig"], names=["dev", "qa"])
    assert rule_reach(r, GET_KUBECONFIG) == Reach(names=frozenset({"dev", "qa"}))
    assert not rule_reach(r, CREATE_DEPLOY)  # another verb and subresource


def test_a_rule_without_resource_names_reaches_every_environment() -> None:
    assert rule_reach(rule(["environments/kubeconfig"]), GET_KUBECONFIG).every


@pytest.mark.parametrize(
    "r",
    [
        rule(["*"], names=["dev"]),
        rule(["*/kubeconfig"], names=["dev"]),
        rule(["environments/kubeconfig"], verbs=["*"], names=["dev"]),
        rule(["environments/kubeconfig"], groups=["*"], names=["dev"]),
        rule(["pods", "environments/kubeconfig"], verbs=["list", "get"], names=["dev"]),
    ],
)
def test_wildcards_match_as_rbac_does(r: dict[str, Any]) -> None:
    assert rule_reach(r, GET_KUBECONFIG) == Reach(names=frozenset({"dev"}))


@pytest.mark.parametrize(
    "r",
    [
        rule(["environments"], names=["dev"]),  # the object, not its kubeconfig
        rule(["environments/*"], names=["dev"]),  # RBAC has no resource/* form
        rule(["*/releases"], names=["dev"]),
        rule(["environments/kubeconfig"], verbs=["list"], names=["dev"]),
        rule(["environments/kubeconfig"], groups=[""], names=["dev"]),
        rule(["environments/kubeconfig"], groups=["example.com"], names=["dev"]),
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
        "not a rule",
        {"apiGroups": "scipian.io", "resources": "*", "verbs": "*"},  # not lists
    ],
)
def test_rules_that_do_not_grant_the_question_reach_nothing(r: Any) -> None:
    assert not rule_reach(r, GET_KUBECONFIG)


def test_deploy_is_create_on_environments_deploy() -> None:
    r = rule(["environments/deploy"], verbs=["create"], names=["prod"])
    assert rule_reach(r, CREATE_DEPLOY) == Reach(names=frozenset({"prod"}))
    assert not rule_reach(r, GET_KUBECONFIG)
    assert not rule_reach(rule(["environments/deploy"], names=["prod"]), CREATE_DEPLOY)


def test_the_request_form_asks_create_on_each_request_level() -> None:
    """What the dashboard's request form offers: `create environments/request-<level>`."""
    r = rule(["environments/request-read"], verbs=["create"], names=["qa"])
    assert rule_reach(r, REQUEST_READ) == Reach(names=frozenset({"qa"}))
    assert not rule_reach(r, REQUEST_DEPLOY)
    assert not rule_reach(r, GET_KUBECONFIG)
    both = role_reaches(role("r", rule(["*/request-read", "*/request-deploy"], verbs=["*"])))
    assert both == {REQUEST_READ: Reach(every=True), REQUEST_DEPLOY: Reach(every=True)}


def test_a_role_unites_its_rules_and_leaves_out_what_it_does_not_reach() -> None:
    reaches = role_reaches(
        role(
            "r",
            rule(["environments/kubeconfig"], names=["a"]),
            rule(["environments/kubeconfig", "environments/releases"], names=["b"]),
            rule(["pods"]),
        )
    )
    assert reaches == {GET_KUBECONFIG: Reach(names=frozenset({"a", "b"}))}
    assert role_reaches(role("none", rule(["pods"]))) == {}
    assert role_reaches({"metadata": {"name": "aggregated"}, "rules": None}) == {}


def test_every_keeps_the_names_beside_it() -> None:
    both = Reach(names=frozenset({"a"})) | Reach(every=True)
    assert both.every and both.names == {"a"}


def test_bindings_keep_users_groups_and_service_accounts() -> None:
    b = parse_binding(
        binding(
            "b",
            "r",
            user("oidc:alice@example.test"),
            group("oidc:team-a"),
            {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
            {"kind": "ServiceAccount", "name": "no-namespace"},
            {"kind": "User"},
        )
    )
    assert b == Binding(
        "r",
        frozenset({"oidc:alice@example.test", "system:serviceaccount:build:ci"}),
        frozenset({"oidc:team-a"}),
    )
    assert parse_binding(binding("b", "r", user("x"), kind="Role")) is None
    assert parse_binding({"metadata": {"name": "b"}}) is None


def index_of(roles: list[dict[str, Any]], bindings: list[dict[str, Any]]) -> RbacIndex:
    """An index fed as its watches would feed it (no cluster: the loops are not started)."""
    index = RbacIndex(client.ApiClient())
    index._roles_list([(r["metadata"]["name"], role_reaches(r)) for r in roles])
    index._bindings_list([(b["metadata"]["name"], parse_binding(b)) for b in bindings])
    return index


def test_a_caller_reaches_what_their_user_and_groups_are_bound_to() -> None:
    index = index_of(
        [
            role("read-a", rule(["environments/kubeconfig"], names=["a"])),
            role("read-b", rule(["environments/kubeconfig"], names=["b"])),
            role("read-c", rule(["environments/kubeconfig"], names=["c"])),
            role("deploy-a", rule(["environments/deploy"], verbs=["create"], names=["a"])),
        ],
        [
            binding("to-alice", "read-a", user("oidc:alice@example.test")),
            binding("to-team", "read-b", group("oidc:team-a")),
            binding("to-bob", "read-c", user("oidc:bob@example.test")),
            binding("deploy-team", "deploy-a", group("oidc:team-a")),
        ],
    )
    assert index.ready()
    assert index.reach(ALICE, GET_KUBECONFIG) == Reach(names=frozenset({"a", "b"}))
    assert index.reach(ALICE, CREATE_DEPLOY) == Reach(names=frozenset({"a"}))
    mallory = Identity("oidc:mallory@example.test", (), "sub-m")
    assert not index.reach(mallory, GET_KUBECONFIG)


def test_system_authenticated_counts_for_every_caller() -> None:
    index = index_of(
        [role("everyone", rule(["environments/kubeconfig"], names=["open"]))],
        [binding("b", "everyone", group("system:authenticated"))],
    )
    nobody = Identity("oidc:nobody@example.test", (), "s")
    assert index.reach(nobody, GET_KUBECONFIG).names == {"open"}


def test_watch_events_add_change_and_remove() -> None:
    index = index_of([], [])
    index._role_event("ADDED", role("r", rule(["environments/kubeconfig"], names=["a"])))
    index._binding_event("ADDED", binding("b", "r", user(ALICE.username)))
    assert index.reach(ALICE, GET_KUBECONFIG).names == {"a"}
    # The role now names another environment; then its rules no longer reach any.
    index._role_event("MODIFIED", role("r", rule(["environments/kubeconfig"], names=["z"])))
    assert index.reach(ALICE, GET_KUBECONFIG).names == {"z"}
    index._role_event("MODIFIED", role("r", rule(["pods"])))
    assert not index.reach(ALICE, GET_KUBECONFIG)
    index._role_event("MODIFIED", role("r", rule(["environments/kubeconfig"], names=["a"])))
    # A binding's subjects change: the old subject loses it, the new one gains it.
    index._binding_event("MODIFIED", binding("b", "r", group("oidc:team-b")))
    assert not index.reach(ALICE, GET_KUBECONFIG)
    bob = Identity("oidc:bob@example.test", ("oidc:team-b",), "s")
    assert index.reach(bob, GET_KUBECONFIG).names == {"a"}
    index._binding_event("DELETED", binding("b", "r", group("oidc:team-b")))
    assert not index.reach(bob, GET_KUBECONFIG)
    assert index._by_subject == {}  # nothing left behind for subjects without bindings


def test_a_relist_replaces_everything() -> None:
    index = index_of(
        [role("r", rule(["environments/kubeconfig"], names=["a"]))],
        [binding("b", "r", user(ALICE.username))],
    )
    index._bindings_list([])
    assert not index.reach(ALICE, GET_KUBECONFIG)


def test_not_ready_until_both_lists_were_read() -> None:
    index = RbacIndex(client.ApiClient())
    index._roles_list([])
    assert not index.ready()
    index._bindings_list([])
    assert index.ready()

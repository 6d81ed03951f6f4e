"""The deploy level's pure parts: the request body, step-up checks on both sides, the
challenge header, spec.deploy parsing, the broker's namespaced rights, the plugin's cache
keys, exec kubeconfig and reason rules."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kubectl_scipian import cli
from kubectl_scipian.access.cache import BackendCache, CachedKubeconfig
from kubectl_scipian.access.credentials import check_reason
from kubectl_scipian.backend.client import step_up_max_age
from kubectl_scipian.errors import UsageError
from kubectl_scipian.exec.kubeconfig import exec_kubeconfig, merge
from kubectl_scipian.oidc.idtoken import fresh_login_problem
from scipian_backend.audit.events import Series, event_message
from scipian_backend.audit.records import Record
from scipian_backend.environments.admin import deploy_broker_documents, updated
from scipian_backend.environments.store import parse_environment
from scipian_backend.errors import BadRequest, InsufficientUserAuthentication
from scipian_backend.http.bodies import kubeconfig_request
from scipian_backend.identity.authn import auth_time_of, step_up_problem

NOW = 1_800_000_000


# --- backend: the body --------------------------------------------------------------------


def test_empty_body_is_a_read() -> None:
    assert kubeconfig_request({}) == ("read", "", False)
    assert kubeconfig_request({"level": "read"}) == ("read", "", False)


def test_deploy_body_keeps_the_justification() -> None:
    got = kubeconfig_request({"level": "deploy", "justification": "  fix INC-42  "})
    assert got == ("deploy", "  fix INC-42  ", False)  # as given: the audit shows what was typed
    glass = kubeconfig_request({"level": "deploy", "justification": "x", "breakGlass": True})
    assert glass.break_glass is True
    assert kubeconfig_request({"level": "deploy", "justification": "é" * 512}).level == "deploy"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"level": "deploy"}, "needs a justification"),
        ({"level": "deploy", "justification": None}, "needs a justification"),
        ({"level": "deploy", "justification": " \t "}, "must be printable"),
        ({"level": "deploy", "justification": "   "}, "needs a justification"),
        ({"level": "deploy", "justification": "x" * 513}, "longer than 512"),
        ({"level": "deploy", "justification": "a\u202eb"}, "must be printable"),
        ({"level": "deploy", "justification": "a\rb"}, "must be printable"),
        ({"level": "deploy", "justification": ["x"]}, "must be a string"),
        ({"justification": "why"}, "only for level deploy"),
        ({"level": "Deploy"}, "level must be"),
        ({"level": None}, "level must be"),
        ({"extra": 1}, "unknown field(s)"),
        ({"breakGlass": True}, "only for level deploy"),
        ({"level": "deploy", "justification": "x", "breakGlass": "yes"}, "true or false"),
    ],
)
def test_bad_bodies(doc: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest) as err:
        kubeconfig_request(doc)
    assert message in err.value.message


# --- step-up on both sides ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth_time", "ok"),
    [
        (NOW, True),
        (NOW - 300, True),
        (NOW - 301, False),
        (None, False),  # unknown age never passes
        (NOW + 20, True),  # within the clock leeway
        (NOW + 31, False),
    ],
)
def test_backend_step_up(auth_time: int | None, ok: bool) -> None:
    assert (step_up_problem(auth_time, 300, NOW, 30) is None) is ok


@pytest.mark.parametrize("value", [True, "1800000000", None, [1], {"t": 1}])
def test_auth_time_must_be_a_number(value: object) -> None:
    assert auth_time_of({"auth_time": value}) is None
    assert auth_time_of({"auth_time": 12.7}) == 12


def test_challenge_header_is_rfc_9470s() -> None:
    err = InsufficientUserAuthentication("a login no older than 300 seconds is required", 300)
    header = err.headers["WWW-Authenticate"]
    assert header == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="a login no older than 300 seconds is required", max_age=300'
    )
    assert (err.status, err.reason) == (401, "InsufficientUserAuthentication")
    assert step_up_max_age(header) == 300


@pytest.mark.parametrize(
    ("header", "max_age"),
    [
        ('Bearer error="insufficient_user_authentication", max_age=5', 5),
        ('Bearer error="insufficient_user_authentication",max_age="60"', 60),
        ('Bearer realm="scipian"', None),
        ('Bearer error="invalid_token", max_age=5', None),
        ('Bearer error="insufficient_user_authentication", acr_values="mfa"', None),
        ('Bearer error="insufficient_user_authentication", xmax_age=5', None),
    ],
)
def test_plugin_reads_the_challenge(header: str, max_age: int | None) -> None:
    assert step_up_max_age(header) == max_age


@pytest.mark.parametrize(
    ("claims", "fresh"),
    [
        ({"auth_time": NOW - 3}, True),
        ({"auth_time": NOW - 14}, True),  # max_age 10 + 5 s skew
        ({"auth_time": NOW - 16}, False),  # the provider ignored max_age
        ({}, False),
        ({"auth_time": True}, False),
        ({"auth_time": NOW + 60}, False),
    ],
)
def test_plugin_checks_the_fresh_login_itself(claims: dict[str, object], fresh: bool) -> None:
    assert (fresh_login_problem(claims, 10, NOW, 5.0) == "") is fresh


# --- spec.deploy --------------------------------------------------------------------------


def env_obj(deploy: object) -> dict[str, object]:
    return {
        "metadata": {"name": "dev", "uid": "u"},
        "spec": {
            "credentialsSecretRef": {"namespace": "scipian-system", "name": "dev-kubeconfig"},
            "access": {"clusterRole": "view", "ttlSeconds": 900},
            "deploy": deploy,
        },
    }


def test_parse_deploy_defaults_and_gates() -> None:
    env = parse_environment(env_obj({"namespaces": ["shop", "shop", "cart"]}))
    assert env.deploy is not None
    # The default deploy role is Scipian's (change.md §3), no longer `edit`.
    assert (env.deploy.cluster_role, env.deploy.namespaces) == (
        "scipian-deployer",
        ("cart", "shop"),
    )
    assert (env.deploy.ttl_seconds, env.deploy.max_auth_age_seconds) == (600, 300)
    assert not env.deploy.gated
    gated = parse_environment(
        env_obj({"namespaces": ["shop"], "requirePromotionFrom": "staging"})
    ).deploy
    assert gated is not None and gated.gated
    approvals = parse_environment(env_obj({"namespaces": ["shop"], "approvals": {"required": 1}}))
    assert approvals.deploy is not None and approvals.deploy.gated


@pytest.mark.parametrize(
    "deploy",
    [
        None,
        {},
        {"namespaces": []},
        {"namespaces": "shop"},
        {"namespaces": ["shop"], "ttlSeconds": "x"},
    ],
)
def test_unusable_deploy_grants_nothing(deploy: object) -> None:
    assert parse_environment(env_obj(deploy)).deploy is None


def test_broker_gets_only_namespaced_rights() -> None:
    docs = deploy_broker_documents("shop", ["edit", "edit"])
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Namespace", "Role", "RoleBinding"]  # no ClusterRole(Binding)
    role = docs[1]
    assert role["metadata"]["namespace"] == "shop"
    assert role["rules"] == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings"],
            "verbs": ["create", "get"],
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["edit"],
        },
    ]
    assert docs[2]["roleRef"]["kind"] == "Role"


def test_update_keeps_what_is_not_given() -> None:
    current = parse_environment(env_obj({"namespaces": ["shop"], "maxAuthAgeSeconds": 60}))
    reg = updated(current, {"deploy": {"max_auth_age_seconds": 5}})
    assert reg.deploy is not None
    assert (reg.deploy.namespaces, reg.deploy.max_auth_age_seconds) == (("shop",), 5)
    assert (reg.cluster_role, reg.ttl_seconds) == ("view", 900)
    assert updated(current, {"deploy": False}).deploy is None


def test_deploy_events_name_the_justification() -> None:
    rec = Record(
        event="issuance",
        request_id="r1",
        outcome="issued",
        environment="dev",
        user="oidc:a",
        expiration_timestamp="2026-01-01T00:10:00Z",
        level="deploy",
        justification="fix INC-42",
        auth_time=NOW,
    )
    message = event_message(Series(rec, None))
    assert message.startswith("issued deploy credentials to oidc:a until 2026-01-01T00:10:00Z")
    assert "justification 'fix INC-42', login at 2027-01-15T08:00:00Z" in message
    line = json.loads(rec.line())
    assert (line["level"], line["justification"], line["authTime"]) == (
        "deploy",
        "fix INC-42",
        "2027-01-15T08:00:00Z",
    )


# --- plugin ---------------------------------------------------------------------------------


def test_deploy_cache_is_apart_and_keyed_by_reason(tmp_path: Path) -> None:
    cache = BackendCache(tmp_path, "https://b", warn=io.StringIO())
    read = cache.kubeconfig_path("u", "dev")
    one = cache.kubeconfig_path("u", "dev", "reason one")
    two = cache.kubeconfig_path("u", "dev", "reason two")
    assert len({read, one, two}) == 3 and one.name.startswith("deploy-")
    item = CachedKubeconfig("dev", "u", 2e9, 1e9, "oidc:u", "{}", "deploy", "reason one")
    cache.save_kubeconfig(item)
    assert cache.load_kubeconfig("u", "dev") is None  # never used for reads
    assert cache.load_kubeconfig("u", "dev", "reason two") is None
    assert cache.load_kubeconfig("u", "dev", "reason one") == item
    assert cache.deploy_expiries("u", "dev") == [2e9]
    assert cache.remove_all_kubeconfigs() == 1


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (None, "needs --reason TEXT"),
        ("", "needs --reason TEXT"),
        ("x" * 513, "longer than 512"),
        ("a\tb", "printable"),
    ],
)
def test_reason_rules(reason: str | None, message: str) -> None:
    with pytest.raises(UsageError) as err:
        check_reason(reason)
    assert message in str(err.value) and err.value.exit_code == 2
    assert check_reason(" why ") == "why"


def test_deploy_exec_kubeconfig_never_overwrites_the_read_entries() -> None:
    cluster = {"server": "https://dev.example"}
    read = exec_kubeconfig("dev", cluster, backend_url="https://b")
    deploy = exec_kubeconfig("dev", cluster, backend_url="https://b", reason="fix it")
    assert deploy["current-context"] == "dev-deploy"
    assert [u["name"] for u in deploy["users"]] == ["scipian-dev-deploy"]
    args = deploy["users"][0]["user"]["exec"]["args"]
    assert args[-6:] == ["dev", "credential", "--level", "deploy", "--reason", "fix it"]
    both = merge(merge(None, read), deploy)
    assert [c["name"] for c in both["contexts"]] == ["dev", "dev-deploy"]
    assert both["current-context"] == "dev"


def test_cli_parses_level_and_reason() -> None:
    args = cli.parse(["dev", "kubeconfig", "--level", "deploy", "--reason", "r"], io.StringIO())
    assert (args.command, args.level, args.reason) == ("kubeconfig", "deploy", "r")
    args = cli.parse(["dev", "credential"], io.StringIO())
    assert (args.level, args.reason) == ("read", None)

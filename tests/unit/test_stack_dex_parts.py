"""Pure parts of the stack's Dex pair: the directory's people and groups (the same as the
default provider's, plus one nested member), its LDIF and slapd.conf, Dex's configuration,
`scripts/stack up --idp`, and what the plugin says without a terminal when a step-up cannot
work (no auth_time)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian import errors
from kubectl_scipian.access.cache import Login
from kubectl_scipian.access.credentials import fresh_login_needed
from tests.stack import dex_daemon, ldap_daemon, people, providers
from tests.stack.paths import IDP_SRC
from tests.stack.stack import _idp_option


def test_people_are_the_default_providers_users() -> None:
    source = (IDP_SRC / "provider.mjs").read_text()
    block = source.split("const USER_GROUPS = {", 1)[1].split("};", 1)[0]
    users = {
        name: tuple(re.findall(r"'([^']+)'", groups))
        for name, groups in re.findall(r"(\w+): \[([^\]]*)\]", block)
    }
    assert users == people.USER_GROUPS


def test_nested_member_gets_the_parent_group_only_through_nesting() -> None:
    groups = people.directory_groups()
    assert people.NESTED_USER not in groups["team-a"]  # not a direct member
    assert "web-devs" in groups["team-a"] and people.NESTED_USER in groups["web-devs"]
    assert people.effective_groups(people.NESTED_USER) == {"web-devs", "team-a"}
    assert people.effective_groups("alice") == {"team-a"}
    assert people.effective_groups("mallory") == set()


def test_ldif_names_people_and_nested_groups_by_dn() -> None:
    text = ldap_daemon.ldif("pw", "bind-pw")
    team_a = next(e for e in text.split("\n\n") if e.startswith("dn: cn=team-a,"))
    assert f"member: uid=alice,{ldap_daemon.PEOPLE_DN}" in team_a
    assert f"member: cn=web-devs,{ldap_daemon.GROUPS_DN}" in team_a
    assert "pw" not in re.sub(r"userPassword: \S+", "", text).split()  # no clear password
    assert text.count("userPassword: {SSHA}") == len(people.directory_users()) + 1


def test_ssha_verifies_as_slapd_checks_it() -> None:
    raw = base64.b64decode(ldap_daemon.ssha("secret").removeprefix("{SSHA}"))
    digest, salt = raw[:20], raw[20:]
    assert hashlib.sha1(b"secret" + salt).digest() == digest  # noqa: S324
    assert ldap_daemon.ssha("secret") != ldap_daemon.ssha("secret")  # salted


def test_slapd_conf_keeps_passwords_for_binding_only(tmp_path: Path) -> None:
    conf = ldap_daemon.slapd_conf(tmp_path, Path("/s"), Path("/m"))
    assert "access to attrs=userPassword\n  by anonymous auth\n  by * none" in conf
    assert f'suffix "{ldap_daemon.SUFFIX}"' in conf and str(tmp_path / "data") in conf


def test_dex_config_public_client_ldap_nested_groups() -> None:
    directory = ldap_daemon.Directory("ldap://127.0.0.1:389", ldap_daemon.BIND_DN, "pw")
    config: dict[str, Any] = dex_daemon.config("http://127.0.0.1:5556/dex", 5556, directory, 60)
    [client] = config["staticClients"]
    assert client == {"id": "kubectl-scipian", "name": "kubectl-scipian", "public": True}
    [connector] = config["connectors"]
    assert connector["config"]["host"] == "127.0.0.1:389"
    [matcher] = connector["config"]["groupSearch"]["userMatchers"]
    assert matcher == {"userAttr": "DN", "groupAttr": "member", "recursionGroupAttr": "member"}
    assert config["expiry"] == {
        "idTokens": "60s",
        "deviceRequests": "5m",
        "refreshTokens": {"reuseInterval": "3s"},
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "oidc-provider"),
        (["--idp", "dex"], "dex"),
        (["--idp=dex"], "dex"),
        (["--idp", "oidc-provider"], "oidc-provider"),
        (["--idp", "keycloak"], None),
        (["--idp"], None),
        (["dex"], None),
    ],
)
def test_idp_option(args: list[str], expected: str | None) -> None:
    assert _idp_option(args) == expected


def test_select_points_the_generic_names_at_one_pair() -> None:
    env = {
        **providers.default_values("http://idp", "http://backend"),
        **providers.pair_values("dex", "http://dex", "http://backend-dex", "kubectl-scipian"),
    }
    dex = providers.select(env, "dex")
    assert (dex["STACK_IDP"], dex["STACK_IDP_ISSUER"], dex["SCIPIAN_BACKEND_URL"]) == (
        "dex",
        "http://dex",
        "http://backend-dex",
    )
    assert providers.select(dex, "oidc-provider")["SCIPIAN_BACKEND_URL"] == "http://backend"
    with pytest.raises(KeyError):
        providers.select(providers.default_values("http://idp", "http://b"), "dex")


def login_with(auth_time: float | None) -> Login:
    return Login(
        issuer="http://idp",
        client_id="kubectl-scipian",
        scopes=["openid"],
        id_token="x",
        refresh_token=None,
        issued_at=0.0,
        expires_at=0.0,
        subject="s",
        email="alice@example.test",
        groups=["team-a"],
        auth_time=auth_time,
    )


def test_without_terminal_a_login_without_auth_time_says_another_login_will_not_help() -> None:
    challenge = errors.StepUpRequired(300, "HTTP 401")
    unprovable = fresh_login_needed(challenge, login_with(None))
    assert isinstance(unprovable, errors.FreshLoginUnprovable)
    assert "(no auth_time)" in unprovable.hint and "300s" in unprovable.hint
    stale = fresh_login_needed(challenge, login_with(1.0))
    assert isinstance(stale, errors.FreshLoginRequired)
    assert stale.hint.endswith("run 'kubectl scipian login', then this command again")

"""What only Dex (v2.45.1, groups from the stack's slapd) shows: groups through nested LDAP
groups, and step-up with a provider that cannot show a fresh login.

Dex v2.45.1 puts no `auth_time` into its id_tokens and ignores `max_age` (later commits on its
main branch add both; docs/providers.md). So a deploy-level request through Dex's backend
never passes, whether the login is fresh or not: the backend challenges (RFC 9470), and the
plugin answers with the RFC's line and a hint that says why, exit 1; with a terminal it first
tries one fresh login, whose id_token has no `auth_time` either. The backend's refusal is
also checked over HTTP with Dex's own freshest id_token, as a hostile client would send it.

The shared tests (access matrix, logins, refresh, errors, revoke, exec credential) run against
Dex through `idp_stack` in their own modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.conftest import Stack
from tests.e2e.test_plugin_access import AUTH, login, make_env
from tests.stack import idp_login, people
from tests.stack.login import run_approving, run_plugin

pytestmark = [pytest.mark.stack, pytest.mark.idp_dex]
NO_PROOF_HINT = (
    "hint: deploy credentials need a login no older than 300s and the identity provider "
    "does not show one: the provider's id_token does not say when you logged in (no "
    "auth_time); ask your Scipian admin\n"
)
EXEC_INTERACTIVE = json.dumps(
    {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": True},
    }
)


def claims_of(tokens: dict[str, Any]) -> dict[str, Any]:
    """The id_token's claims (read, not verified: only what Dex said is looked at)."""
    claims: dict[str, Any] = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    return claims


@pytest.mark.parametrize("user", people.directory_users())
def test_groups_come_from_ldap_nested_groups_included(dex_stack: Stack, user: str) -> None:
    env = dex_stack.env
    tokens = idp_login.authcode_flow_tokens(
        env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], user, env["STACK_PASSWORD"]
    )
    claims = claims_of(tokens)
    assert claims["email"] == people.email(user) and claims["email_verified"] is True
    # No groups: Dex leaves the claim out, which the backend reads as none.
    assert set(claims.get("groups", [])) == people.effective_groups(user)


def test_nested_group_member_reads_what_the_group_may(dex_stack: Stack, tmp_path: Path) -> None:
    """erin is only in web-devs, a member of team-a: she reads dev as alice does, no more."""
    env = login(dex_stack, people.NESTED_USER, make_env(dex_stack, tmp_path / "config"))
    who = run_plugin(["whoami"], env)
    assert who.returncode == 0, who.stderr
    assert "Groups:   web-devs, team-a" in who.stdout.splitlines()
    dev = run_plugin(["dev", "get", "namespaces", "default", "-o", "name"], env)
    assert (dev.returncode, dev.stdout) == (0, "namespace/default\n"), dev.stderr
    prod = run_plugin(["prod", "get", "namespaces", "default", "-o", "name"], env)
    assert (prod.returncode, prod.stdout, prod.stderr) == (1, "", AUTH)


def test_dex_ignores_max_age_and_sets_no_auth_time(dex_stack: Stack) -> None:
    """What the provider does when asked for a fresh login: it has no session to reuse (every
    login shows its form), and its id_token never says when that login was."""
    env = dex_stack.env
    browser = idp_login.browser()
    for extra in ({}, {"max_age": "0"}, {"max_age": "300"}):
        seen: list[str] = []
        tokens = idp_login.authcode_flow_tokens(
            env["STACK_IDP_ISSUER"],
            env["STACK_IDP_CLIENT_ID"],
            "alice",
            env["STACK_PASSWORD"],
            extra_params=extra,
            session=browser,
            seen=seen,
        )
        assert seen == ["login"]
        assert "auth_time" not in claims_of(tokens)


def test_backend_refuses_deploy_for_dex_tokens_over_http(dex_stack: Stack) -> None:
    env = dex_stack.env
    tokens = idp_login.authcode_flow_tokens(
        env["STACK_IDP_ISSUER"],
        env["STACK_IDP_CLIENT_ID"],
        "carol",
        env["STACK_PASSWORD"],
        extra_params={"max_age": "0"},  # as fresh as a login gets
    )
    url = f"{env['SCIPIAN_BACKEND_URL']}/api/v1/environments/dev/kubeconfig"
    headers = {"Authorization": f"Bearer {tokens['id_token']}"}
    deploy = requests.post(
        url, headers=headers, json={"level": "deploy", "justification": "t-dex"}, timeout=30
    )
    assert deploy.status_code == 401
    assert deploy.json()["reason"] == "InsufficientUserAuthentication"
    assert "no auth_time" in deploy.json()["message"]
    assert 'error="insufficient_user_authentication"' in deploy.headers["WWW-Authenticate"]
    # The same token reads: it is only the deploy level's fresh-login gate that refuses.
    read = requests.post(url, headers=headers, json={"level": "read"}, timeout=30)
    assert read.status_code == 200, read.text


def test_deploy_without_terminal_right_after_login_says_why(
    dex_stack: Stack, tmp_path: Path
) -> None:
    env = login(dex_stack, "alice", make_env(dex_stack, tmp_path / "config"))
    for args in (
        ["dev", "credential", "--level", "deploy", "--reason", "t-dex no tty"],
        ["dev", "kubeconfig", "--level", "deploy", "--reason", "t-dex no tty"],
    ):
        got = run_plugin(args, env)
        assert (got.returncode, got.stdout, got.stderr) == (1, "", AUTH + NO_PROOF_HINT)


def test_deploy_with_terminal_logs_in_once_then_says_why(dex_stack: Stack, tmp_path: Path) -> None:
    env = login(dex_stack, "alice", make_env(dex_stack, tmp_path / "config"))
    seen: list[str] = []
    got = run_approving(
        ["dev", "credential", "--level", "deploy", "--reason", "t-dex step-up"],
        "alice",
        dex_stack.env["STACK_PASSWORD"],
        {**env, "KUBERNETES_EXEC_INFO": EXEC_INTERACTIVE},
        seen=seen,
    )
    assert seen.count("login") == 1  # the step-up's one fresh sign-in at Dex's pages
    assert (got.returncode, got.stdout) == (1, "")
    assert "no older than 300s; logging in again" in got.stderr
    assert got.stderr.endswith(AUTH + NO_PROOF_HINT)
    # Never a loop: the next run, without a terminal, is refused at once.
    again = run_plugin(["dev", "credential", "--level", "deploy", "--reason", "t-dex"], env)
    assert (again.returncode, again.stdout, again.stderr) == (1, "", AUTH + NO_PROOF_HINT)


def test_dex_and_slapd_logs_hold_no_secret(dex_stack: Stack) -> None:
    """Last in this module: Dex's, slapd's and Dex's backend's logs after the logins above are
    where the session's JWT scan (tests/conftest.py) reads them, and hold no password either."""
    from tests.conftest import SECRET_JWT

    logs = Path(dex_stack.env["STACK_LOGS_DIR"])
    secrets = (dex_stack.env["STACK_PASSWORD"], dex_stack.env["STACK_LDAP_BIND_PASSWORD"])
    for name in ("dex.log", "ldap.log", "backend-dex.log"):
        text = (logs / name).read_text(errors="replace")
        assert text, name
        assert not SECRET_JWT.search(text), name
        assert not [s for s in secrets if s in text], name
    assert "BIND dn=" in (logs / "ldap.log").read_text()  # slapd logged the logins themselves

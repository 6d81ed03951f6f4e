"""Credentials under an approved access request (change.md §9, §10; docs/api.md), against
the real stack: real logins, raw HTTP, the real kubectl on the target with the tokens.

The module registers `t-kreq` on the dev cluster (gated: one approval; deploy namespaces
`t-kreq-a` and `t-kreq-b`); mallory (nothing standing anywhere) may ask for read and deploy
there, carol may approve (credentials_world.py). Each test asks for requests of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.accessrequests.credentials_world import (
    MALLORY,
    Issued,
    act,
    approved,
    as_list,
    ask,
    cancel_all,
    figure,
    issuance_lines,
    issue,
    module_env,
    now,
    sessions_of,
    window_end,
)
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import env_grant, wait_for

pytestmark = pytest.mark.stack

ENV = "t-kreq"
NS_A, NS_B = "t-kreq-a", "t-kreq-b"
BOUND = 30.0  # a bound on waiting for the target or RBAC, not a timing assertion


@pytest.fixture(scope="module")
def env(stack: Stack) -> Iterator[str]:
    yield from module_env(stack, ENV, (NS_A, NS_B))


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


@pytest.fixture(autouse=True)
def none_left_open(stack: Stack, api: Api, logins: Logins, env: str) -> Iterator[None]:
    """Each test's requests end with it: a later test's credential comes from its own."""
    yield
    for user in ("mallory", "carol"):
        cancel_all(stack, api, logins.token(user), env)


def listed(api: Api, token: str) -> set[str]:
    r = api.call("GET", "/api/v1/environments", token)
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


def test_a_read_request_grants_reads_and_no_deploy(
    stack: Stack, api: Api, logins: Logins, env: str, tmp_path: Path
) -> None:
    mallory = logins.token("mallory")
    before = issue(api, mallory, env)
    assert before.status_code == 403 and before.json()["requestable"] == "read"
    assert env not in listed(api, mallory)
    releases = f"/api/v1/environments/{env}/releases"
    assert api.call("GET", releases, mallory).status_code == 403

    obj = ask(api, mallory, env, "read", 600)
    name = obj["metadata"]["name"]
    assert issue(api, mallory, env).status_code == 403  # Pending grants nothing
    obj = approved(api, logins, name)
    t0 = now()
    answer = issue(api, mallory, env)
    assert answer.status_code == 200, answer.text
    issued = Issued(stack, answer.json(), tmp_path / "read.kubeconfig")
    assert issued.may("list", "configmaps", NS_A)
    figure("approval -> usable read credential", now() - t0)
    assert issued.expiration <= window_end(obj)  # min(ttl, the window left)
    assert not issued.may("create", "configmaps", NS_A)  # the read role only
    assert sessions_of(stack, name)  # its session Secret carries the request's label
    wait_for("the issuance's audit line", lambda: issuance_lines(stack, name), timeout=10)
    line = issuance_lines(stack, name)[0]
    assert (line["user"], line["environment"], line["level"]) == (MALLORY, env, "read")

    assert env in listed(api, mallory)  # envs and @all
    assert api.call("GET", releases, mallory).status_code == 200
    # no deploy: mallory may ask for one, she holds none
    deploy = issue(api, logins.fresh("mallory"), env, "deploy")
    assert deploy.status_code == 403 and deploy.json()["requestable"] == "deploy"


def test_a_deploy_request_binds_only_its_namespaces(
    stack: Stack, api: Api, logins: Logins, env: str, tmp_path: Path
) -> None:
    mallory = logins.fresh("mallory")
    gated = issue(api, mallory, env, "deploy")
    assert gated.status_code == 403  # RBAC refuses her before any gate
    obj = ask(api, mallory, env, "deploy", 900, namespaces=[NS_A])
    obj = approved(api, logins, obj["metadata"]["name"])
    # the reason is still required, and the step-up
    bare = api.call("POST", f"/api/v1/environments/{env}/kubeconfig", mallory, {"level": "deploy"})
    assert bare.status_code == 400, bare.text
    t0 = now()
    answer = issue(api, mallory, env, "deploy")
    assert answer.status_code == 200, answer.text
    issued = Issued(stack, answer.json(), tmp_path / "deploy.kubeconfig")
    made = issued.create_configmap(NS_A, f"k-{uuid.uuid4().hex[:6]}")
    assert made.returncode == 0, made.stderr[-300:]
    figure("approval -> usable deploy credential", now() - t0)
    # outside the request's namespaces the target itself refuses
    refused = issued.create_configmap(NS_B, f"k-{uuid.uuid4().hex[:6]}")
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower()
    assert not issued.may("create", "configmaps", "default")
    # min(the deploy TTL, the window left): not past the window's end
    assert issued.expiration <= window_end(obj)


def test_a_deploy_request_never_promotes_approves_or_breaks_glass(
    stack: Stack, api: Api, logins: Logins, env: str
) -> None:
    mallory = logins.fresh("mallory")
    obj = ask(api, mallory, env, "deploy", 600)
    approved(api, logins, obj["metadata"]["name"])
    assert issue(api, mallory, env, "deploy").status_code == 200
    # break-glass keeps asking RBAC alone
    glass = issue(api, mallory, env, "deploy", breakGlass=True)
    assert glass.status_code == 403, glass.text
    # a promotion's chart upload through the environment needs standing deploy
    digest = "sha256:" + "0" * 64
    upload = api.call(
        "PUT", f"/api/v1/charts/{digest}", mallory, params={"through": env},
        headers={"Content-Type": "application/gzip"}, data=b"\x1f\x8b",
    )  # fmt: skip
    assert upload.status_code == 403, upload.text
    created = api.call(
        "POST", "/api/v1/promotions", mallory,
        {"release": "k-promo", "namespace": NS_A, "through": [env], "chart": {
            "digest": digest, "name": "x", "version": "1.0.0"}, "justification": "k"},
    )  # fmt: skip
    assert created.status_code == 403, created.text
    # approving: another's request on the same environment
    other = ask(api, logins.token("carol"), env, "deploy", 600)
    refused = act(api, mallory, other["metadata"]["name"], "approvals")
    assert refused.status_code in (403, 404), refused.text  # 404: not hers to see
    phase = stack.kubectl(
        "mgmt", "get", "accessrequests.scipian.io", other["metadata"]["name"],
        "-o", "jsonpath={.status.phase}",
    )  # fmt: skip
    assert phase.stdout == "Pending"


def test_revoke_deletes_the_sessions_before_answering(
    stack: Stack, api: Api, logins: Logins, env: str, tmp_path: Path
) -> None:
    mallory = logins.fresh("mallory")
    obj = ask(api, mallory, env, "deploy", 600, namespaces=[NS_A])
    name = obj["metadata"]["name"]
    approved(api, logins, name)
    answer = issue(api, mallory, env, "deploy")
    assert answer.status_code == 200, answer.text
    issued = Issued(stack, answer.json(), tmp_path / "revoked.kubeconfig")
    assert issued.authenticates()
    assert sessions_of(stack, name)
    carol = logins.fresh("carol")
    t0 = now()
    revoked = act(api, carol, name, "revoke")
    answered = now()
    assert revoked.status_code == 200, revoked.text
    assert sessions_of(stack, name) == []  # gone before the answer
    wait_for("the revoked credential to be refused", lambda: issued.refused(NS_A), BOUND)
    figure("revoke asked -> credential refused by the target", now() - t0)
    wait_for("the revoked token to fail", lambda: not issued.authenticates(), timeout=BOUND)
    figure("revoke answered -> token rejected (401)", now() - answered)
    assert issue(api, mallory, env, "deploy").status_code == 403


@pytest.fixture
def mallory_may_ask_read_too(stack: Stack, env: str) -> Iterator[str]:
    """A second grant of request-read for mallory, this test's own, removed mid-test."""
    name = f"{env}-read-extra-{uuid.uuid4().hex[:4]}"
    manifest = as_list(env_grant(name, "request-read", MALLORY, [env]))
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)


def test_a_grant_removed_during_the_window_stops_issuance(
    stack: Stack, api: Api, logins: Logins, env: str, mallory_may_ask_read_too: str
) -> None:
    mallory = logins.token("mallory")
    obj = ask(api, mallory, env, "read", 600)
    approved(api, logins, obj["metadata"]["name"])
    assert issue(api, mallory, env).status_code == 200
    # mallory's only grants of request-read on the environment: the module's and this one
    stack.kubectl("mgmt", "delete", "clusterrolebinding", f"{env}-request-read")
    try:
        assert issue(api, mallory, env).status_code == 200  # the other grant still stands
        stack.kubectl("mgmt", "delete", "clusterrolebinding", mallory_may_ask_read_too)
        wait_for(
            "issuance to stop once RBAC no longer lets her ask",
            lambda: issue(api, mallory, env).status_code == 403,
            timeout=BOUND,
        )
        assert env not in listed(api, mallory)
    finally:
        again = as_list(env_grant(f"{env}-request-read", "request-read", MALLORY, [env]))
        stack.kubectl("mgmt", "apply", "-f", "-", input=again)


def test_deleting_the_request_mid_window_revokes_its_sessions(
    stack: Stack, api: Api, logins: Logins, env: str, tmp_path: Path
) -> None:
    mallory = logins.token("mallory")
    obj = ask(api, mallory, env, "read", 600)
    name = obj["metadata"]["name"]
    approved(api, logins, name)
    answer = issue(api, mallory, env)
    assert answer.status_code == 200, answer.text
    issued = Issued(stack, answer.json(), tmp_path / "deleted.kubeconfig")
    assert issued.authenticates()
    stack.kubectl("mgmt", "delete", "accessrequests.scipian.io", name, "--wait=false")
    t0 = now()
    # issuance stops at once (the object is being deleted); the worker deletes the
    # sessions and the identity, then removes the finalizer
    assert issue(api, mallory, env).status_code == 403
    wait_for("the deleted request's credential to be refused", lambda: issued.refused(NS_A), BOUND)
    figure("request deleted -> credential refused by the target", now() - t0)
    wait_for("the deleted request's token to fail", lambda: not issued.authenticates(), BOUND)
    figure("request deleted -> token rejected (401)", now() - t0)
    assert sessions_of(stack, name) == []
    wait_for(
        "the finalizer to go",
        lambda: (
            stack.kubectl("mgmt", "get", "accessrequests.scipian.io", name, check=False).returncode
            != 0
        ),
        timeout=BOUND,
    )

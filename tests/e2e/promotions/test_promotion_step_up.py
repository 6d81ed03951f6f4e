"""Changing a promotion costs a fresh login: creating one needs a login no older than the
strictest `maxAuthAgeSeconds` of its chain, cancelling one likewise. This module registers
an environment of its own on the dev cluster, `t-promo-su` (deploy in `shop`,
maxAuthAgeSeconds 5, so a login goes stale within the test, and one approval, so that
nothing of the test's runs), removed at its end; platform-admins' grants cover it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Archive, Logins, plan, step_of
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
ENV = "t-promo-su"
MAX_AGE = 5


@pytest.fixture(scope="module")
def short_env(stack: Stack) -> Iterator[str]:
    out = admin_cli(
        "register",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=promotion step-up test",
        f"--name={ENV}",
        "--deploy-namespace=shop",
        f"--max-auth-age={MAX_AGE}",
        "--approvals=1",
    )
    assert out.returncode == 0, out.stderr
    try:
        yield ENV
    finally:
        stack.kubectl("mgmt", "delete", "environment", ENV, "--wait=false", check=False)


def test_creating_and_cancelling_need_a_fresh_login(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, short_env: str
) -> None:
    carol = logins.fresh("carol")
    assert api.upload(carol, charts["1.2.0"], ["dev", short_env]).status_code in (200, 201)
    body = plan(release, charts["1.2.0"], ["dev", short_env])
    time.sleep(MAX_AGE + 1)  # the login is now older than t-promo-su's maxAuthAgeSeconds
    stale = api.create(carol, **body)
    assert stale.status_code == 401, stale.text
    assert stale.json()["reason"] == "InsufficientUserAuthentication"
    assert f"max_age={MAX_AGE}" in stale.headers["WWW-Authenticate"]
    fresh = logins.fresh("carol")
    created = api.create(fresh, **body)
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    assert step_of(created.json(), short_env)["approvalsRequired"] == 1
    time.sleep(MAX_AGE + 1)
    refused = api.cancel(fresh, name, "changed my mind")
    assert refused.status_code == 401
    assert "cancelRequest" not in api.get(fresh, name).json()["status"]
    ok = api.cancel(logins.fresh("carol"), name, "changed my mind")
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"]["cancelRequest"]["user"] == "oidc:carol@example.test"

"""Unacknowledged break-glass in the dashboard, in a real browser against the real stack:
the activity and promotions pages list it; the one who broke the glass gets no form;
carol, allowed to approve there, acknowledges it from the browser through a step-up login
(the form carries the CSRF token, as the promotion approve form does); a form without the
token is refused.

The test reads and changes only what it creates: an environment of its own on the dev
cluster (gated, a login no older than MAX_AUTH_AGE), dave's break-glass and carol's
approve grant on it, and its break-glass entries; all removed afterwards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.e2e.ui.browser import Browser
from tests.e2e.ui.conftest import as_http
from tests.stack import grants
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
MAX_AUTH_AGE = 20  # carol's dashboard login is stale by the time she acknowledges


@pytest.fixture
def glass_env(stack: Stack) -> Iterator[str]:
    env = f"t-ui-glass-{uuid.uuid4().hex[:6]}"
    rbac = json.dumps(
        grants.manifest(
            (
                grants.Grant("breakglass", grants.BREAKGLASS, "oidc:release-managers", (env,)),
                grants.Grant("approve", grants.APPROVE, "oidc:platform-admins", (env,)),
            )
        )
    )
    try:
        out = admin_cli(
            "register", f"--name={env}", f"--kubeconfig={stack.kubeconfig('dev')}",
            "--description=dashboard break-glass test", f"--deploy-namespace={env}",
            "--approvals=1", f"--max-auth-age={MAX_AUTH_AGE}",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        stack.kubectl("mgmt", "apply", "-f", "-", input=rbac)
        yield env
    finally:
        stack.kubectl("mgmt", "delete", "--ignore-not-found", "-f", "-", input=rbac, check=False)
        stack.kubectl("mgmt", "delete", "environment", env, "--ignore-not-found", check=False)
        stack.kubectl(
            "mgmt", "delete", "secret", "-n", "scipian-system", f"{env}-kubeconfig",
            "--ignore-not-found",
        )  # fmt: skip
        stack.kubectl("dev", "delete", "namespace", env, "--wait=false", check=False)


def entries(stack: Stack, env: str) -> list[dict[str, Any]]:
    out = stack.kubectl("mgmt", "get", "environment", env, "-o", "json")
    found: list[dict[str, Any]] = (json.loads(out.stdout).get("status") or {}).get(
        "breakGlass"
    ) or []
    return found


def test_carol_acknowledges_daves_break_glass_from_the_dashboard(
    stack: Stack, glass_env: str, signed_in: Callable[..., Browser]
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]  # the dashboard is under /ui/
    logins = Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])
    why = f"INC-{uuid.uuid4().hex[:8]} dashboard"
    api = Api(stack.env["SCIPIAN_BACKEND_URL"])
    body = {"level": "deploy", "justification": why, "breakGlass": True}
    glass = api.call(
        "POST", f"/api/v1/environments/{glass_env}/kubeconfig", logins.fresh("dave"), body
    )
    assert glass.status_code == 200, glass.text
    [entry] = [e for e in entries(stack, glass_env) if e["reason"] == why]
    row = f'tr[data-break-glass="{entry["id"]}"]'

    dave = signed_in("dave")
    dave.open(f"{url}/ui/activity")
    assert why in dave.text(row)
    assert not dave.has(f"{row} form.acknowledge")  # never by the one who broke the glass

    carol = signed_in("carol")
    signed_at = time.monotonic()
    for page in ("/ui/promotions", "/ui/activity"):
        carol.open(f"{url}{page}")
        assert why in carol.text(row)
        assert carol.has(f"{row} form.acknowledge")
    # A cross-site form carries no CSRF token: refused, nothing recorded.
    action = f"{url}/ui/environments/{glass_env}/breakglass/{entry['id']}/acknowledge"
    forged = as_http(carol).post(
        action,
        data={"justification": "forged"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert "acknowledgement" not in entries(stack, glass_env)[-1]
    # carol's dashboard login is older than the environment allows by now: a step-up
    time.sleep(max(0.0, MAX_AUTH_AGE + 1 - (time.monotonic() - signed_at)))
    carol.driver.find_element(
        "css selector", f'{row} form.acknowledge input[name="justification"]'
    ).send_keys("postmortem PM-7")
    carol.submit(f"{row} form.acknowledge button")
    assert "login" in carol.answer_provider(stack.env["STACK_PASSWORD"])
    carol.wait_for("#acknowledged")
    assert carol.url.startswith(f"{url}/ui/activity")
    assert not carol.has(row)
    [kept] = [e for e in entries(stack, glass_env) if e["id"] == entry["id"]]
    assert (kept["acknowledgement"]["user"], kept["acknowledgement"]["justification"]) == (
        "oidc:carol@example.test",
        "postmortem PM-7",
    )

"""Promotions in the dashboard, in a real browser against the real stack: the progress
strip changing from Deploying/Verifying to Succeeded without a reload, dave approving the
prod step from the browser through a step-up login, no Approve button for the initiator,
and her forged approval refused.

The chain is driven as the plugin drives it, through the backend's API with carol's real
id_token and the real Helm 4 (tests/e2e/promotions/world.py's Driver), on a release of
this test's own in `shop` (removed afterwards with its Promotions and lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.conftest import api, charts, driver, helm, logins, release
from tests.e2e.promotions.world import Api, Driver, Helm, Logins, plan, step_of
from tests.e2e.ui.browser import Browser
from tests.e2e.ui.conftest import as_http
from tests.stack import clusters
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
FIXTURES = (api, charts, driver, helm, logins, release)  # the promotion tests' own fixtures
MAX_AUTH_AGE = 5  # prod's login age for this test (restored to 300 afterwards)


def strip_phase(b: Browser, env: str) -> str:
    return b.text(f'#promotion [data-step="{env}"] .phase')


def wait_phase(b: Browser, env: str, phases: tuple[str, ...], seen: list[str]) -> str:
    deadline = time.monotonic() + 120
    while True:
        phase = strip_phase(b, env)
        if not seen or seen[-1] != phase:
            seen.append(phase)
        if phase in phases:
            return phase
        assert time.monotonic() < deadline, f"{env} stayed {seen}"
        time.sleep(0.2)


@pytest.fixture
def prod_login_age(stack: Stack) -> object:
    """prod asks for a login no older than 5 s while the test runs (so that a step-up is
    needed after a short wait); put back to 300 s afterwards."""

    def update(age: int) -> None:
        out = admin_cli(
            "update", "--name=prod", f"--kubeconfig={clusters.admin_kubeconfig('prod')}",
            f"--max-auth-age={age}",
        )  # fmt: skip
        assert out.returncode == 0, out.stderr

    update(MAX_AUTH_AGE)
    yield MAX_AUTH_AGE
    update(300)


def test_a_promotion_in_the_browser(
    stack: Stack,
    api: Api,
    logins: Logins,
    driver: Driver,
    helm: Helm,
    charts: dict[str, Path],
    release: str,
    signed_in: Callable[..., Browser],
    prod_login_age: int,
) -> None:
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol_token = logins.fresh("carol")
    created = api.create(
        carol_token, **plan(release, identity, "1.2.0", ["dev", "staging", "prod"], soakSeconds=4)
    )
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]

    carol = signed_in("carol")
    carol.click('a[href="/ui/promotions"]')
    carol.wait_for(f'tr[data-promo="{name}"]')
    carol.screenshot("promotions")
    carol.click(f'tr[data-promo="{name}"] a')
    carol.wait_for("#promotion")
    assert [strip_phase(carol, e) for e in ("dev", "staging", "prod")] == ["Pending"] * 3
    carol.driver.execute_script("window.__notReloaded = true;")

    # The dev step runs (real helm) while the page is open: the strip follows it.
    result: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            promo=driver.run_step(carol_token, name, "dev", release, chart)
        )
    )
    worker.start()
    seen: list[str] = []
    wait_phase(carol, "dev", ("Deploying", "Verifying"), seen)
    carol.screenshot("promotion-deploying")
    wait_phase(carol, "dev", ("Succeeded",), seen)
    worker.join(120)
    assert carol.driver.execute_script("return window.__notReloaded === true;")
    assert seen[-1] == "Succeeded" and {"Deploying", "Verifying"} & set(seen), seen
    carol.keep()

    promo = driver.run_step(carol_token, name, "staging", release, chart)
    assert step_of(promo, "staging")["phase"] == "Succeeded", promo["status"]
    refused = api.step(carol_token, name, "prod", "kubeconfig")
    assert refused.status_code == 403  # prod waits for an approval
    carol.open(carol.url.split("?")[0])
    assert strip_phase(carol, "prod") == "AwaitingApproval"
    # The initiator gets no Approve button, and her forged approval is refused.
    assert not carol.has("form.approve")
    carol.screenshot("promotion-awaiting-approval")
    token = carol.driver.find_element("css selector", "form#logout input[name=csrf]")
    forged = as_http(carol).post(
        f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions/{name}/steps/prod/approve",
        data={"csrf": token.get_attribute("value"), "justification": "approving my own"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert forged.status_code == 403
    # RBAC answers first (carol is no release manager), as the API does.
    assert "oidc:carol@example.test may not approve on environment prod" in forged.text
    assert step_of(api.get(carol_token, name).json(), "prod")["approvals"] in (None, [])

    # dave approves from the browser; his dashboard login is older than prod allows by now,
    # so the provider asks for his password again (a step-up), then the approval is recorded.
    dave = signed_in("dave")
    # A cross-site form would carry no CSRF token: refused, nothing recorded.
    no_token = as_http(dave).post(
        f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions/{name}/steps/prod/approve",
        data={"justification": "forged"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    time.sleep(prod_login_age + 1)
    dave.open(f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions/{name}")
    assert dave.has('tr[data-step-row="prod"] form.approve')
    dave.screenshot("promotion-approve")
    dave.driver.find_element("css selector", 'form.approve input[name="justification"]').send_keys(
        "CAB approved CHG-42"
    )
    dave.submit('tr[data-step-row="prod"] form.approve button')
    answered = dave.answer_provider(stack.env["STACK_PASSWORD"])
    assert "login" in answered  # the step-up: his password again
    dave.wait_for("#approved")
    dave.screenshot("promotion-approved")
    approvals = step_of(api.get(carol_token, name).json(), "prod")["approvals"]
    assert [(a["user"], a["justification"]) for a in approvals] == [
        ("oidc:dave@example.test", "CAB approved CHG-42")
    ]
    assert not dave.has("form.approve")  # once per user

    # The client waiting on the promotion continues: prod deploys, and carol's open page
    # shows it without a reload.
    carol.driver.execute_script("window.__notReloaded = true;")
    promo = driver.run_step(carol_token, name, "prod", release, chart)
    assert promo["status"]["phase"] == "Succeeded", promo["status"]
    seen = []
    wait_phase(carol, "prod", ("Succeeded",), seen)
    carol.wait_text("#promotion .promo-phase", "Succeeded")
    assert carol.driver.execute_script("return window.__notReloaded === true;")
    carol.keep()
    carol.screenshot("promotion-succeeded")


def test_promotions_are_read_as_rbac_allows(
    stack: Stack, signed_in: Callable[..., Browser]
) -> None:
    mallory = signed_in("mallory")
    mallory.open(f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions")
    assert 'cannot list resource "promotions"' in mallory.text("#error-message")
    mallory.screenshot("promotions-refused")
    alice = signed_in("alice")
    alice.open(f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions")
    assert alice.has("#promotions")
    alice.screenshot("promotions")

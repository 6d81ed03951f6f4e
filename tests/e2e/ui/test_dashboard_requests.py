"""Access requests in the dashboard, in a real browser against the real stack (change.md §9):
bob asks for deploy on an environment's page; dave, allowed to approve there, approves
from the browser through a step-up login (the form carries the CSRF token, as promotion
approvals do); the window counts down on bob's and dave's pages; dave revokes; the
requests and activity pages list the request. Forms without the CSRF token are refused
and change nothing.

The test reads and changes only what it creates: an environment of its own on the dev
cluster (a deploy namespace of its own, a login no older than MAX_AUTH_AGE for deciding),
bob's read and request-deploy grants and dave's approve grant on it, and its
AccessRequests; all removed afterwards.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import Stack
from tests.e2e.ui.browser import WAIT, Browser
from tests.e2e.ui.conftest import as_http, sign_in_http
from tests.stack import grants
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
MAX_AUTH_AGE = 20  # dave's dashboard login is stale by the time he approves
MAX_ACCESS = 1800  # the environment's maxAccessSeconds: the form's 30 minutes fit, 1 h not
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
COUNTDOWN = re.compile(r"^\d+ min( \d\d s)?$")  # a 30-minute window, as ui/requests.py says


@contextmanager
def registered(
    stack: Stack, env: str, given: tuple[grants.Grant, ...], *flags: str
) -> Iterator[str]:
    """`env` registered on the dev cluster with `given` grants; all removed afterwards."""
    rbac = json.dumps(grants.manifest(given))
    try:
        out = admin_cli(
            "register", f"--name={env}", f"--kubeconfig={stack.kubeconfig('dev')}",
            "--description=dashboard access request test", *flags,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        stack.kubectl("mgmt", "apply", "-f", "-", input=rbac)
        yield env
    finally:
        stack.kubectl("mgmt", "delete", "--ignore-not-found", "-f", "-", input=rbac, check=False)
        label = f"scipian.io/environment={env}"
        stack.kubectl(
            "mgmt", "delete", "accessrequests.scipian.io", "-l", label, "--wait=false",
            check=False,
        )  # fmt: skip
        stack.kubectl("mgmt", "delete", "environment", env, "--ignore-not-found", check=False)
        stack.kubectl(
            "mgmt", "delete", "secret", "-n", "scipian-system", f"{env}-kubeconfig",
            "--ignore-not-found",
        )  # fmt: skip
        stack.kubectl("dev", "delete", "namespace", env, "--wait=false", check=False)


@pytest.fixture
def request_env(stack: Stack) -> Iterator[str]:
    env = f"t-ui-req-{uuid.uuid4().hex[:6]}"
    given = (
        grants.Grant("env", grants.READ, "oidc:team-b", (env,)),
        grants.Grant("request-deploy", grants.REQUEST_DEPLOY, "oidc:team-b", (env,)),
        grants.Grant("approve", grants.APPROVE, "oidc:release-managers", (env,)),
    )
    flags = (
        f"--deploy-namespace={env}", f"--max-auth-age={MAX_AUTH_AGE}",
        f"--max-access-seconds={MAX_ACCESS}",
    )  # fmt: skip
    with registered(stack, env, given, *flags):
        yield env


@pytest.fixture
def read_request_env(stack: Stack) -> Iterator[str]:
    """An environment bob (team-b) may only ask to read; dave (release-managers) approves."""
    env = f"t-ui-rr-{uuid.uuid4().hex[:6]}"
    given = (
        grants.Grant("request-read", grants.REQUEST_READ, "oidc:team-b", (env,)),
        grants.Grant("approve", grants.APPROVE, "oidc:release-managers", (env,)),
    )
    with registered(stack, env, given, f"--deploy-namespace={env}"):
        yield env


def requests_of(stack: Stack, env: str) -> list[dict[str, Any]]:
    out = stack.kubectl(
        "mgmt", "get", "accessrequests.scipian.io", "-l", f"scipian.io/environment={env}",
        "-o", "json",
    )  # fmt: skip
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def phase(stack: Stack, name: str) -> str:
    out = stack.kubectl("mgmt", "get", "accessrequests.scipian.io", name, "-o", "json")
    return str((json.loads(out.stdout).get("status") or {}).get("phase") or "")


def choose(b: Browser, field: str, value: str) -> None:
    Select(
        b.driver.find_element(By.CSS_SELECTOR, f'form#ask select[name="{field}"]')
    ).select_by_value(value)


def type_reason(b: Browser, form: str, reason: str) -> None:
    b.driver.find_element(By.CSS_SELECTOR, f'{form} input[name="justification"]').send_keys(reason)


def countdown_ticks(b: Browser) -> str:
    """The window's countdown: visible, in words, and moved by the page's script."""
    clock = "#window .countdown"
    first = b.text(clock)
    assert COUNTDOWN.match(first), first
    WebDriverWait(b.driver, WAIT).until(
        lambda d: d.find_element(By.CSS_SELECTOR, clock).text != first,
        "the countdown never moved",
    )
    assert b.driver.find_element(By.CSS_SELECTOR, clock).get_attribute("data-ticking") == "true"
    return first


def test_bob_asks_dave_approves_with_step_up_then_revokes(
    stack: Stack, request_env: str, signed_in: Callable[..., Browser]
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]  # the dashboard is under /ui/
    env = request_env
    why = f"INC-{uuid.uuid4().hex[:8]} checkout is slow"

    bob = signed_in("bob")
    # A cross-site form carries no CSRF token: refused, nothing created.
    forged = as_http(bob).post(
        f"{url}/ui/requests",
        data={"environment": env, "level": "deploy", "duration": "1800", "justification": why},
        headers=FORM,
        allow_redirects=False,
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert requests_of(stack, env) == []

    # bob asks on the environment's page: deploy, 30 minutes, his reason.
    bob.open(f"{url}/ui/environments/{env}")
    assert bob.has("form#ask")
    choose(bob, "level", "deploy")
    choose(bob, "duration", "1800")
    type_reason(bob, "form#ask", why)
    bob.submit("form#ask button")
    bob.wait_for("#done")
    [obj] = requests_of(stack, env)
    name = obj["metadata"]["name"]
    assert bob.url == f"{url}/ui/requests/{name}?done=requested"
    assert (obj["spec"]["level"], obj["spec"]["durationSeconds"]) == ("deploy", 1800)
    assert obj["spec"]["requester"]["user"] == "oidc:bob@example.test"
    assert obj["spec"]["justification"] == why
    assert "Pending" in bob.text(".request-phase")
    # His own request: he may cancel it, never decide it.
    assert bob.has("form#cancel") and not bob.has("form#approve") and not bob.has("form#revoke")

    dave = signed_in("dave")
    signed_at = time.monotonic()
    dave.open(f"{url}/ui/requests")
    assert why in dave.text(f'#others tr[data-request="{name}"]')
    dave.open(f"{url}/ui/requests/{name}")
    assert dave.has("form#approve") and dave.has("form#deny") and dave.has("form#revoke")
    # dave's cookie without the form's token: refused, still Pending.
    for verb in ("approve", "revoke"):
        forged = as_http(dave).post(
            f"{url}/ui/requests/{name}/{verb}",
            data={"justification": "forged"},
            headers=FORM,
            allow_redirects=False,
        )
        assert forged.status_code == 403 and "CSRF" in forged.text
    assert phase(stack, name) == "Pending"

    # dave's dashboard login is older than the environment allows by now: a step-up.
    time.sleep(max(0.0, MAX_AUTH_AGE + 1 - (time.monotonic() - signed_at)))
    type_reason(dave, "form#approve", "on call, approved")
    dave.submit("form#approve button")
    assert "login" in dave.answer_provider(stack.env["STACK_PASSWORD"])
    dave.wait_for("#done")
    assert dave.url == f"{url}/ui/requests/{name}?done=approved"
    assert phase(stack, name) == "Approved"
    assert "Approved" in dave.text(".request-phase")
    assert "on call, approved" in dave.text('#approvals [data-approver="oidc:dave@example.test"]')
    countdown_ticks(dave)
    dave.screenshot("request-approved")

    # bob's page follows by itself (its script polls the state) and counts down too.
    bob.wait_text(".request-phase", "Approved")
    bob.open(f"{url}/ui/requests/{name}")
    countdown_ticks(bob)
    assert "Access ends in" in bob.text("#window")
    bob.open(f"{url}/ui/activity")
    assert bob.has(f'#activity-requests tr[data-request="{name}"]')

    # dave revokes (his login is fresh from the step-up, or he signs in again).
    dave.open(f"{url}/ui/requests/{name}")
    type_reason(dave, "form#revoke", "resolved")
    dave.submit("form#revoke button")
    dave.answer_provider(stack.env["STACK_PASSWORD"])
    dave.wait_for("#done")
    assert dave.url == f"{url}/ui/requests/{name}?done=revoked"
    assert phase(stack, name) == "Revoked"
    assert "resolved" in dave.text("#decision") and not dave.has("#window")
    assert not dave.has("form#approve") and not dave.has("form#revoke")
    bob.open(f"{url}/ui/requests")
    assert "Revoked" in bob.text(f'#mine tr[data-request="{name}"]')


def test_the_servers_rules_hold_for_forms_with_a_valid_csrf_token(
    stack: Stack, request_env: str
) -> None:
    """Over HTTP with each user's own session and CSRF token, as a hostile client would: the
    service's rules decide, not the buttons. bob may not approve his own request, alice
    (no grant there) neither sees nor decides it, a window beyond maxAccessSeconds is
    refused and creates nothing; bob cancels his own."""
    url, env = stack.env["SCIPIAN_BACKEND_URL"], request_env
    bob, bob_csrf = sign_in_http(stack, url, "bob")
    ask = {"csrf": bob_csrf, "environment": env, "level": "deploy", "justification": "INC-8"}
    too_long = bob.post(
        f"{url}/ui/requests", data={**ask, "duration": str(MAX_ACCESS * 2)}, headers=FORM,
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert too_long.status_code == 400, too_long.text
    assert requests_of(stack, env) == []
    made = bob.post(
        f"{url}/ui/requests", data={**ask, "duration": str(MAX_ACCESS)}, headers=FORM,
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    [obj] = requests_of(stack, env)
    name = obj["metadata"]["name"]
    assert made.headers["location"] == f"/ui/requests/{name}?done=requested"

    own = bob.post(
        f"{url}/ui/requests/{name}/approve", data={"csrf": bob_csrf, "justification": "me"},
        headers=FORM, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert own.status_code == 403 and "their own request" in own.text
    alice, alice_csrf = sign_in_http(stack, url, "alice")
    assert alice.get(f"{url}/ui/requests/{name}", timeout=30).status_code == 404
    for verb in ("approve", "deny", "revoke", "cancel"):
        foreign = alice.post(
            f"{url}/ui/requests/{name}/{verb}", data={"csrf": alice_csrf, "justification": "x"},
            headers=FORM, allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert foreign.status_code == 404, (verb, foreign.status_code)
    assert phase(stack, name) == "Pending"

    cancelled = bob.post(
        f"{url}/ui/requests/{name}/cancel", data={"csrf": bob_csrf, "justification": "fixed"},
        headers=FORM, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/ui/requests/{name}?done=cancelled"
    assert phase(stack, name) == "Cancelled"


def test_an_approved_read_request_opens_the_pods_and_logs_pages(
    stack: Stack, read_request_env: str
) -> None:
    """The pods and logs pages' frames decide as the read credential's issuance does: bob,
    with no standing read there, is refused until dave approves his read request."""
    url, env = stack.env["SCIPIAN_BACKEND_URL"], read_request_env
    pages = [
        f"{url}/ui/environments/{env}/logs/{env}/web-0",
        f"{url}/ui/environments/{env}/releases/{env}/web/pods",
    ]
    bob, bob_csrf = sign_in_http(stack, url, "bob")
    assert [bob.get(p, timeout=30).status_code for p in pages] == [403, 403]
    ask = {"csrf": bob_csrf, "environment": env, "level": "read", "duration": "600"}
    made = bob.post(
        f"{url}/ui/requests", data={**ask, "justification": "INC-9 logs"}, headers=FORM,
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    [obj] = requests_of(stack, env)
    name = obj["metadata"]["name"]
    assert [bob.get(p, timeout=30).status_code for p in pages] == [403, 403]  # still pending
    dave, dave_csrf = sign_in_http(stack, url, "dave")
    approved = dave.post(
        f"{url}/ui/requests/{name}/approve", data={"csrf": dave_csrf, "justification": "ok"},
        headers=FORM, allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert approved.status_code == 303, approved.text
    assert phase(stack, name) == "Approved"
    assert [bob.get(p, timeout=30).status_code for p in pages] == [200, 200]


def test_the_request_form_offers_exactly_the_levels_granted(
    stack: Stack, request_env: str, read_request_env: str
) -> None:
    """The requests page's form lists each environment where the viewer may ask, with the
    levels RBAC allows there (found through the backend's RBAC index, each confirmed by a
    review): bob may ask for deploy on one of this test's environments and for read on the
    other; alice, granted neither, is offered neither."""
    url = stack.env["SCIPIAN_BACKEND_URL"]
    ours = {request_env, read_request_env}

    def offered(user: str) -> dict[str, str]:
        session, _ = sign_in_http(stack, url, user)
        page = session.get(f"{url}/ui/requests", timeout=30)
        assert page.status_code == 200, page.status_code
        found = re.findall(r'<option value="([^"]+)">[^<(]*\(([^)]*)\)</option>', page.text)
        return {env: levels for env, levels in found if env in ours}

    assert offered("bob") == {request_env: "deploy", read_request_env: "read"}
    assert offered("alice") == {}

"""The dashboard in a real browser (Debian Chromium, headless, via Selenium) against the
real stack: the provider's own login pages, the real backend, real clusters and KWOK pods.

The world of this module: a namespace of its own on dev with a Helm release `web` of the
stack's chart (Helm 4, as dev's admin) and its pod's log lines (KWOK's Logs). Tests assert
only on that release, that pod, the stack's fixed grants (docs/stack.md) and Events they
caused. Screenshots: test-results/screenshots/<user>-<page>.png.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.ui.conftest import as_http
from tests.stack.backend_daemon import spawn_backend, ui_callback
from tests.stack.idp_daemon import CLIENT_ID
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.podlogs import append_lines, give_logs
from tests.stack.releases import CHART, helm_env

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment."


class World:
    def __init__(self, ns: str, release: str, pod: str, log_file: Path) -> None:
        self.ns, self.release, self.pod, self.log_file = ns, release, pod, log_file


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    ns, release = f"t-ui-{uuid.uuid4().hex[:6]}", "web"
    stack.kubectl("dev", "create", "namespace", ns)
    with tempfile.TemporaryDirectory() as home:
        env = helm_env(Path(home), stack.kubeconfig("dev"))
        subprocess.run(
            [stack.env["STACK_HELM"], "install", release, str(CHART), "-n", ns, "--wait"],
            env=env, check=True, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    pod = _pod_of(stack, ns, release)
    files = give_logs(
        stack.kubeconfig("dev"), ns, pod, {"web": ["listening on :8080", "GET / 200"]}
    )
    yield World(ns, release, pod, files["web"])
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


def _pod_of(stack: Stack, ns: str, release: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        out = stack.kubectl(
            "dev", "get", "pods", "-n", ns, "-l", f"app.kubernetes.io/instance={release}",
            "-o", "jsonpath={.items[*].metadata.name}",
        )  # fmt: skip
        if out.stdout.strip():
            return out.stdout.split()[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no pod of {ns}/{release}")
        time.sleep(0.2)


def ui(stack: Stack, path: str) -> str:
    return stack.env["SCIPIAN_BACKEND_URL"] + path


def test_alice_sees_dev_and_nothing_of_prod(stack: Stack, world: World, signed_in) -> None:
    alice = signed_in("alice")
    alice.screenshot("environments")
    envs = [
        e.get_attribute("data-env")
        for e in alice.driver.find_elements("css selector", "tr[data-env]")
    ]
    assert envs == ["dev"]
    assert not alice.has('a[href*="/environments/prod"]')
    assert not alice.has('a[href*="/environments/staging"]')
    # A direct URL: the RFC's message, and a 403.
    for path in (
        "/ui/environments/prod",
        f"/ui/environments/prod/releases/{world.ns}/{world.release}",
        f"/ui/environments/prod/logs/{world.ns}/{world.pod}",
    ):
        alice.open(ui(stack, path))
        assert alice.text("#error-message") == AUTH
        r = as_http(alice).get(ui(stack, path), allow_redirects=False)
        assert r.status_code == 403 and AUTH in r.text
    alice.screenshot("prod-refused")
    # An environment nobody registered: the same words for her (no existence oracle).
    alice.open(ui(stack, "/ui/environments/no-such-env"))
    assert alice.text("#error-message") == AUTH


def test_alice_clicks_through_to_her_release_and_its_history(
    stack: Stack, world: World, signed_in
) -> None:
    alice = signed_in("alice")
    alice.click('tr[data-env="dev"] a')
    alice.wait_for("#releases")
    alice.screenshot("environment-dev")
    row = f'tr[data-release="{world.ns}/{world.release}"]'
    assert "shop-web-1.0.0" in alice.text(row) and "deployed" in alice.text(row)
    alice.click(f"{row} a")
    alice.wait_for("#history")
    alice.screenshot("release-history")
    assert alice.text('tr[data-revision="1"]').split()[0] == "1"
    assert "Install complete" in alice.text('tr[data-revision="1"]')
    # The redacted rows only: the chart's values never reach the page.
    assert "shop-web-default-key" not in alice.driver.page_source


def test_logs_show_a_pods_lines_then_a_line_appended_while_open(
    stack: Stack, world: World, signed_in
) -> None:
    alice = signed_in("alice")
    alice.open(ui(stack, f"/ui/environments/dev/releases/{world.ns}/{world.release}"))
    alice.click("#pods-link")
    alice.wait_for(f'tr[data-pod="{world.pod}"]')
    alice.screenshot("pods")
    alice.click(f'tr[data-pod="{world.pod}"] a')
    alice.wait_text("#log", "GET / 200")
    assert "listening on :8080" in alice.text("#log")
    alice.wait_for('#follow-state[data-following="true"]')
    marker = f"GET /cart/{uuid.uuid4().hex[:8]} 200"
    append_lines(world.log_file, [marker])
    alice.wait_text("#log", marker)
    alice.keep()
    alice.screenshot("logs-following")
    lines = alice.text("#log").splitlines()
    assert lines == ["listening on :8080", "GET / 200", marker]


def test_a_user_without_read_access_gets_no_logs(stack: Stack, world: World, signed_in) -> None:
    mallory = signed_in("mallory")
    page = f"/ui/environments/dev/logs/{world.ns}/{world.pod}?container=web"
    mallory.open(ui(stack, page))
    assert mallory.text("#error-message") == AUTH
    assert not mallory.has("#log")
    assert "listening on" not in mallory.driver.page_source
    mallory.screenshot("logs-refused")
    http = as_http(mallory)
    r = http.get(ui(stack, page), allow_redirects=False, timeout=30)
    assert r.status_code == 403
    assert "listening on" not in r.text and "GET / 200" not in r.text
    # The data routes are POSTs carrying her session's CSRF token: refused all the same.
    token = mallory.driver.find_element(
        "css selector", "form#logout input[name=csrf]"
    ).get_attribute("value")
    same_origin = {"X-CSRF-Token": str(token), "Origin": stack.env["SCIPIAN_BACKEND_URL"]}
    stream = f"/ui/environments/dev/logs/{world.ns}/{world.pod}/stream?container=web"
    r = http.post(ui(stack, stream), headers=same_origin, timeout=30)
    assert r.status_code == 403 and r.json()["message"] == AUTH
    assert "listening on" not in r.text and "GET / 200" not in r.text
    pods = f"/ui/environments/dev/releases/{world.ns}/{world.release}/pods"
    r = http.get(ui(stack, pods))
    assert r.status_code == 403 and world.pod not in r.text
    r = http.post(ui(stack, pods), headers=same_origin, timeout=30)
    assert r.status_code == 403 and world.pod not in r.text


def test_carol_sees_every_environment(stack: Stack, world: World, signed_in) -> None:
    carol = signed_in("carol")
    envs = [
        e.get_attribute("data-env")
        for e in carol.driver.find_elements("css selector", "tr[data-env]")
    ]
    assert envs == ["dev", "prod", "staging"]
    carol.screenshot("environments")
    carol.click('tr[data-env="prod"] a')
    carol.wait_for("h1")
    assert carol.text("h1") == "Releases on prod"
    carol.screenshot("environment-prod")
    carol.open(ui(stack, f"/ui/environments/dev/releases/{world.ns}/{world.release}"))
    assert carol.has('tr[data-revision="1"]')


def test_mallory_sees_what_to_ask_for(stack: Stack, signed_in) -> None:
    mallory = signed_in("mallory")
    assert not mallory.has("tr[data-env]")
    empty = mallory.text("#empty")
    assert "oidc:mallory@example.test" in empty
    assert "environments/kubeconfig" in empty and "scipian.io" in empty
    mallory.screenshot("environments-empty")
    mallory.open(ui(stack, "/ui/activity"))
    assert mallory.has("#no-activity")
    mallory.screenshot("activity-empty")


def test_activity_shows_only_the_environments_one_may_use(stack: Stack, signed_in) -> None:
    # carol takes a prod credential through the API: an Event on prod (flushed within 1 s).
    token = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, "carol", stack.env["STACK_PASSWORD"]
    )["id_token"]
    s = requests.Session()
    s.trust_env = False
    r = s.post(
        ui(stack, "/api/v1/environments/prod/kubeconfig"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    carol = signed_in("carol")
    deadline = time.monotonic() + 30
    while True:
        carol.open(ui(stack, "/ui/activity"))
        if rid in carol.driver.page_source:
            break
        assert time.monotonic() < deadline, "carol's prod issuance never showed"
        time.sleep(0.5)
    carol.screenshot("activity")
    alice = signed_in("alice")
    alice.open(ui(stack, "/ui/activity"))
    alice.screenshot("activity")
    envs = {
        e.get_attribute("data-env")
        for e in alice.driver.find_elements("css selector", "tr[data-env]")
    }
    assert envs <= {"dev"}
    assert rid not in alice.driver.page_source and "prod" not in alice.text("main").split()


def test_session_cookie_flags(stack: Stack, signed_in) -> None:
    alice = signed_in("alice")
    cookie = alice.cookie("scipian_session")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/ui/"
    # No later than the id_token (the stack's provider issues them for 3600 s).
    ttl = int(stack.env.get("STACK_ID_TOKEN_TTL", "3600"))
    assert int(str(cookie["expiry"])) <= time.time() + ttl + 1
    # Scripts cannot read it.
    assert "scipian_session" not in str(alice.driver.execute_script("return document.cookie"))


def test_a_forged_post_is_refused(stack: Stack, signed_in) -> None:
    alice = signed_in("alice")
    token = alice.driver.find_element("css selector", "form#logout input[name=csrf]").get_attribute(
        "value"
    )
    http = as_http(alice)
    url = ui(stack, "/ui/logout")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = [
        http.post(url, data={}, headers=form),  # no token
        http.post(url, data={"csrf": "x" * 43}, headers=form),  # a guessed one
        http.post(url, data={"csrf": token}, headers={**form, "Origin": "http://evil.example"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    # Still signed in: nothing happened.
    r = http.get(ui(stack, "/ui/"), allow_redirects=False)
    assert r.status_code == 200 and "oidc:alice@example.test" in r.text
    # Another session's token does not work either.
    other = signed_in("carol")
    r = as_http(other).post(url, data={"csrf": token}, headers=form)
    assert r.status_code == 403


def test_logout_clears_the_session(stack: Stack, signed_in) -> None:
    alice = signed_in("alice")
    before = alice.cookie("scipian_session")
    assert before is not None
    alice.click("form#logout button")
    alice.wait_for("#signed-out")
    alice.screenshot("signed-out")
    assert alice.cookie("scipian_session") is None
    # The old cookie, replayed by a client that kept it, is dead on the server too.
    s = requests.Session()
    s.trust_env = False
    s.cookies.set("scipian_session", str(before["value"]), path="/ui/")
    r = s.get(ui(stack, "/ui/"), allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


def test_a_session_expires(stack: Stack, signed_in) -> None:
    """A backend of the test's own whose sessions last 3 s (its redirect URI registered at
    the provider through the provider's test-only admin route)."""
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, ["--ui-session-max-seconds=3"], name="ui-expiry"
    )
    try:
        port = int(backend.url.rsplit(":", 1)[1])
        r = requests.post(
            f"{stack.env['STACK_IDP_ISSUER']}/admin/ui-redirect-uris",
            params={"uri": ui_callback(port)},
            headers={"X-Admin-Secret": stack.env["STACK_IDP_ADMIN_SECRET"]},
            timeout=10,
        )
        assert r.status_code == 200
        alice = signed_in("alice", backend.url + "/ui/")
        cookie = alice.cookie("scipian_session")
        assert cookie is not None and int(str(cookie["expiry"])) <= time.time() + 4
        http = as_http(alice)
        assert http.get(backend.url + "/ui/", allow_redirects=False).status_code == 200
        time.sleep(4)
        r = http.get(backend.url + "/ui/", allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    finally:
        backend.stop()

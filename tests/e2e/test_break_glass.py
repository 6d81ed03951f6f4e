"""Break-glass against the real stack (docs/api.md "Break-glass"; change.md §8, §11, §13).

Break-glass needs its own grant (`create environments/breakglass`) besides deploy: carol
(platform-admins, deploys everywhere) is refused on prod, dave (release-managers) gets the
credential. Its audit line, Warning Event and entry in the Environment's status exist
before the answer does; a backend that cannot write the Event issues nothing. Someone
else, allowed to approve there, acknowledges it (API and the real plugin), with a fresh
login. /metrics names no environment id unless `serve --metrics-detail`.

Besides the stack's `prod` (on which it asserts only about its own entries, found by a
unique reason) this module registers `t-glass` of its own on the dev cluster (gated,
deploy namespace `t-glass`, logins no older than MAX_AGE seconds), granting dave
break-glass and approval, and carol approval there; both are removed at its end.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from scipian_backend.config import MIN_TTL
from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.e2e.test_plugin_deploy import login, make_env
from tests.helpers import backend_log_lines, env_grant, wait_for
from tests.prometheus_text import sample
from tests.stack.backend_daemon import BackendProcess, admin_cli, spawn_backend
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack

ENV = "t-glass"
MAX_AGE = 20  # t-glass's step-up: a login older than this is stale
DEPLOY_TTL = 3600  # t-glass's deploy credentials; a break-glass one lives MIN_TTL only
DAVE = "oidc:dave@example.test"
CAROL = "oidc:carol@example.test"


def grants() -> dict[str, Any]:
    # dave may approve there too: refused only because he broke the glass himself
    items = (
        env_grant("t-glass-breakglass", "breakglass", DAVE, [ENV])
        + env_grant("t-glass-approve", "approve", CAROL, [ENV])
        + env_grant("t-glass-approve-dave", "approve", DAVE, [ENV])
    )
    return {"apiVersion": "v1", "kind": "List", "items": items}


@pytest.fixture(scope="module")
def glass_env(stack: Stack) -> Iterator[str]:
    out = admin_cli(
        "register",
        f"--name={ENV}",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=break-glass test",
        f"--deploy-namespace={ENV}",
        f"--max-auth-age={MAX_AGE}",
        f"--deploy-ttl={DEPLOY_TTL}",
        "--approvals=1",
    )
    assert out.returncode == 0, out.stderr
    manifest = json.dumps(grants())
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield ENV
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        stack.kubectl("mgmt", "delete", "environment", ENV, "--wait=false", check=False)
        stack.kubectl("dev", "delete", "namespace", ENV, "--wait=false", check=False)


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


def break_glass(api: Api, token: str, env: str, why: str) -> requests.Response:
    body = {"level": "deploy", "justification": why, "breakGlass": True}
    return api.call("POST", f"/api/v1/environments/{env}/kubeconfig", token, body)


def status_entries(stack: Stack, env: str) -> list[dict[str, Any]]:
    out = stack.kubectl("mgmt", "get", "environment", env, "-o", "json")
    found: list[dict[str, Any]] = (json.loads(out.stdout).get("status") or {}).get(
        "breakGlass"
    ) or []
    return found


def events(stack: Stack, env: str, reason: str) -> list[dict[str, Any]]:
    out = stack.kubectl(
        "mgmt", "get", "events", "-n", "default",
        f"--field-selector=involvedObject.name={env},reason={reason}", "-o", "json",
    )  # fmt: skip
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def metrics(url: str) -> str:
    return requests.get(f"{url}/metrics", timeout=10).text


def test_break_glass_needs_its_own_grant_and_is_recorded_before_the_answer(
    stack: Stack, api: Api, logins: Logins
) -> None:
    why = f"INC-{uuid.uuid4().hex[:8]} prod down"
    # One replica, asked directly: its /metrics counts what it did (the balancer would
    # spread the calls and the reads over the replicas).
    url = stack.env.get("STACK_BACKEND_0_URL") or stack.env["SCIPIAN_BACKEND_URL"]
    api = Api(url)
    # carol may deploy everywhere, but breaking the glass is a grant of its own
    carol = break_glass(api, logins.fresh("carol"), "prod", why)
    assert carol.status_code == 403
    assert carol.json()["message"] == f"{CAROL} may not break the glass on environment prod"
    assert "kubeconfig" not in carol.json()
    before = sample(metrics(url), "scipian_break_glass_total", environment="prod")
    dave = break_glass(api, logins.fresh("dave"), "prod", why)
    assert dave.status_code == 200, dave.text
    assert dave.json()["level"] == "deploy"
    # Written before the answer: read at once, no waiting.
    [entry] = [e for e in status_entries(stack, "prod") if e["reason"] == why]
    assert entry["user"] == DAVE
    assert "acknowledgement" not in entry
    [event] = [e for e in events(stack, "prod", "BreakGlass") if why in e["message"]]
    assert event["type"] == "Warning"
    assert f"{DAVE} broke the promotion gate of prod" in event["message"]
    assert f"break-glass {entry['id']}" in event["message"]
    # carol's denial carries the reason too
    lines = backend_log_lines(stack, lambda x: x.get("user") == DAVE and why in str(x), 2)
    assert [(x["event"], x["outcome"]) for x in lines] == [
        ("breakglass", "recorded"),
        ("issuance", "issued"),
    ]
    assert {x["breakGlassId"] for x in lines} == {entry["id"]}
    # the stack's backend runs with --metrics-detail: the environment's id
    after = sample(metrics(url), "scipian_break_glass_total", environment="prod")
    assert after == before + 1


def test_the_v1_rollback_record_takes_no_break_glass(api: Api, logins: Logins) -> None:
    """Version 2 (change.md §7): a gated rollback, break-glass or not, is a one-step
    promotion; the v1 record refuses the field before anyone is asked anything."""
    path = f"/api/v1/environments/prod/releases/shop/t-glass-{uuid.uuid4().hex[:6]}/rollbacks"
    body = {"justification": "roll back", "fromRevision": 2, "toRevision": 1, "phase": "started"}
    for who in ("carol", "dave"):
        refused = api.call("POST", path, logins.token(who), {**body, "breakGlass": True})
        assert refused.status_code == 400, refused.text
        assert "rollbackTo and breakGlass" in refused.json()["message"]


def test_no_event_no_credential(stack: Stack, glass_env: str, logins: Logins) -> None:
    """A backend whose identity may not write Events where it is told to (a namespace
    without its Role: the real apiserver refuses) issues no break-glass credential."""
    nowhere = f"t-glass-no-events-{uuid.uuid4().hex[:6]}"
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        stack.env["STACK_IDP_CLIENT_ID"],
        [f"--event-namespace={nowhere}"],
        name="glass-noevents",
    )
    try:
        own = Api(backend.url)
        why = f"no event {uuid.uuid4().hex[:8]}"
        dave = logins.fresh("dave")
        refused = break_glass(own, dave, glass_env, why)
        assert refused.status_code == 503, refused.text
        assert refused.json() == {
            "reason": "ServiceUnavailable",
            "message": f"the break-glass on {glass_env} could not be recorded, "
            "so no credential was issued",
        }
        assert [e for e in status_entries(stack, glass_env) if e["reason"] == why] == []
        # the same backend issues what needs no Event first (a plain deploy on staging)
        plain = own.call(
            "POST", "/api/v1/environments/staging/kubeconfig", dave,
            {"level": "deploy", "justification": why},
        )  # fmt: skip
        assert plain.status_code == 200, plain.text
    finally:
        backend.stop()


def test_a_break_glass_credential_lives_the_minimum_ttl(
    glass_env: str, api: Api, logins: Logins
) -> None:
    """change.md §8: hands-on emergency access gets the shortest lifetime, not the deploy
    level's (t-glass: an hour)."""
    asked = time.time()
    answer = break_glass(api, logins.fresh("dave"), glass_env, f"INC-{uuid.uuid4().hex[:8]} ttl")
    assert answer.status_code == 200, answer.text
    expires = datetime.fromisoformat(answer.json()["expirationTimestamp"].replace("Z", "+00:00"))
    lifetime = expires.timestamp() - asked
    # TokenRequest may round within a few seconds; an hour's token is far outside this
    assert MIN_TTL - 60 <= lifetime <= MIN_TTL + 60, lifetime


def test_acknowledged_by_someone_else_with_a_fresh_login(
    stack: Stack, glass_env: str, api: Api, logins: Logins, tmp_path: Path
) -> None:
    stale = logins.fresh("carol")
    stale_at = time.monotonic()
    why = f"INC-{uuid.uuid4().hex[:8]} t-glass down"
    assert break_glass(api, logins.fresh("dave"), glass_env, why).status_code == 200
    listed = api.call("GET", f"/api/v1/environments/{glass_env}/breakglass", logins.token("dave"))
    assert listed.status_code == 200
    [mine] = [e for e in listed.json()["items"] if e["reason"] == why]
    assert (mine["user"], mine["acknowledgement"]) == (DAVE, None)
    path = f"/api/v1/environments/{glass_env}/breakglass/{mine['id']}/acknowledgement"
    ack = {"justification": "postmortem INC filed"}
    # never by the one who broke the glass
    own = api.call("POST", path, logins.fresh("dave"), ack)
    assert own.status_code == 403
    assert own.json()["message"] == (
        f"{DAVE} broke the glass {mine['id']} on {glass_env}: someone else acknowledges it"
    )
    # RBAC first: alice may not approve there (and learns nothing of the entry)
    alice = api.call("POST", path, logins.token("alice"), ack)
    assert alice.status_code == 403
    assert (
        alice.json()["message"]
        == f"oidc:alice@example.test may not approve on environment {glass_env}"
    )
    missing = api.call("POST", path.replace(mine["id"], "0" * 16), logins.token("carol"), ack)
    assert missing.status_code == 404
    # a stale login: the step-up challenge
    time.sleep(max(0.0, MAX_AGE + 1 - (time.monotonic() - stale_at)))
    challenged = api.call("POST", path, stale, ack)
    assert challenged.status_code == 401
    assert "insufficient_user_authentication" in challenged.headers["WWW-Authenticate"]
    assert f"max_age={MAX_AGE}" in challenged.headers["WWW-Authenticate"]
    done = api.call("POST", path, logins.fresh("carol"), ack)
    assert done.status_code == 200, done.text
    assert done.json()["acknowledgement"]["user"] == CAROL
    assert done.json()["acknowledgement"]["justification"] == "postmortem INC filed"
    again = api.call("POST", path, logins.fresh("carol"), ack)
    assert again.status_code == 409
    [kept] = [e for e in status_entries(stack, glass_env) if e["id"] == mine["id"]]
    assert kept["acknowledgement"]["user"] == CAROL

    def acknowledged() -> list[dict[str, Any]]:
        found = events(stack, glass_env, "BreakGlassAcknowledged")
        return [e for e in found if mine["id"] in e["message"]]

    wait_for("the BreakGlassAcknowledged Event", acknowledged, 30)
    assert acknowledged()[0]["type"] == "Normal"

    # The plugin: carol acknowledges a second one with the real `kubectl scipian`
    why2 = f"INC-{uuid.uuid4().hex[:8]} again"
    assert break_glass(api, logins.fresh("dave"), glass_env, why2).status_code == 200
    [second] = [e for e in status_entries(stack, glass_env) if e["reason"] == why2]
    dave_env = login(stack, "dave", make_env(stack, tmp_path / "dave"))
    mine_refused = run_plugin(
        [glass_env, "ack-break-glass", second["id"], "--reason", "mine"], dave_env
    )
    assert mine_refused.returncode == 1
    assert mine_refused.stderr == (
        f"error: {DAVE} broke the glass {second['id']} on {glass_env}: "
        "someone else acknowledges it\n"
    )
    carol_env = login(stack, "carol", make_env(stack, tmp_path / "carol"))
    acked = run_plugin(
        [glass_env, "ack-break-glass", second["id"], "--reason", "seen it"], carol_env
    )
    assert (acked.returncode, acked.stderr) == (0, ""), acked.stderr
    assert acked.stdout == f"break-glass {second['id']} on {glass_env} acknowledged\n"
    [kept] = [e for e in status_entries(stack, glass_env) if e["id"] == second["id"]]
    assert kept["acknowledgement"] == {
        "user": CAROL,
        "time": kept["acknowledgement"]["time"],
        "justification": "seen it",
    }


@pytest.fixture
def plain_backend(stack: Stack) -> Iterator[BackendProcess]:
    """A backend of this test's own without --metrics-detail, as production runs it."""
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="glass-metrics",
        serve_flags=(),
    )  # fmt: skip
    try:
        yield backend
    finally:
        backend.stop()


def test_metrics_name_no_environment_without_metrics_detail(
    glass_env: str, plain_backend: BackendProcess, logins: Logins
) -> None:
    own = Api(plain_backend.url)
    read = own.call("POST", "/api/v1/environments/dev/kubeconfig", logins.token("alice"), {})
    assert read.status_code == 200, read.text
    why = f"metrics {uuid.uuid4().hex[:8]}"
    assert break_glass(own, logins.fresh("dave"), glass_env, why).status_code == 200
    text = metrics(plain_backend.url)
    assert 'environment="dev"' not in text
    assert f'environment="{glass_env}"' not in text
    assert sample(text, "scipian_issuances_total", environment="ungated", level="read") == 1
    assert sample(text, "scipian_issuances_total", environment="gated", level="deploy") == 1
    assert sample(text, "scipian_break_glass_total", environment="gated") == 1

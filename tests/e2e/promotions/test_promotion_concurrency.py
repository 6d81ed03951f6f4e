"""One active promotion per release, pre-emption by a chain that strictly contains the
active one's, and the per-user caps (5 unfinished promotions, 10 creations an hour; a
backend of the test's own with 1 and 2, and a user of the test's own from a static issuer
so that no other test's promotions count). Rollbacks on prod are used where a promotion
must stay active: each waits for its approval and runs nothing."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import (
    CLIENT_ID,
    Api,
    Archive,
    Logins,
    plan,
    rollback_plan,
    upgrade_args,
)
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend

pytestmark = pytest.mark.stack


def test_two_creates_of_one_release_at_once_one_wins(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    body = rollback_plan(release, 1, "prod")
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def create() -> None:
        own = Api(api.url)  # a connection of its own
        start.wait()
        answers.append(own.create(carol, **body))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 201]
    [lost] = [a.json() for a in answers if a.status_code == 409]
    assert lost["reason"] == "Conflict"
    name = won["metadata"]["name"]
    held = f"promotion {name} of shop/{release} is still AwaitingApproval; wait for it or cancel it"
    assert lost["message"] in (
        held,
        f"promotion {name} of shop/{release} is being created; wait for it",
    )
    # and later, one at a time: the same answer, naming the holder
    third = api.create(carol, **body)
    assert third.status_code == 409
    assert third.json()["message"] == held


def test_a_strictly_larger_chain_pre_empts_the_active_promotion(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    dave = logins.fresh("dave")
    old = api.create(dave, **rollback_plan(release, 1, "prod"))
    assert old.status_code == 201, old.text
    old_name = old.json()["metadata"]["name"]
    carol = logins.fresh("carol")
    assert api.upload(carol, charts["1.2.0"], ["dev", "staging", "prod"]).status_code in (200, 201)
    # not a superset ({dev} vs {prod}), and not a strict one ({prod}): the lock holds
    for body in (plan(release, charts["1.2.0"], ["dev"]), rollback_plan(release, 1, "prod")):
        held = api.create(carol, **body)
        assert held.status_code == 409, held.text
        assert old_name in held.json()["message"]
    new = api.create(carol, **plan(release, charts["1.2.0"], ["staging", "prod"]))
    assert new.status_code == 201, new.text
    new_name = new.json()["metadata"]["name"]
    assert new.json()["spec"]["preempts"] == old_name
    request = api.get(carol, old_name).json()["status"]["cancelRequest"]
    assert request["reason"] == f"pre-empted by {new_name}"
    assert request["user"] == "oidc:carol@example.test"


@pytest.fixture(scope="module")
def issuer() -> Iterator[StaticIssuer]:
    found = StaticIssuer()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def capped(issuer: StaticIssuer) -> Iterator[BackendProcess]:
    flags = ["--promotion-active-per-user=1", "--promotion-creations-per-hour=2"]
    backend = spawn_backend(issuer.issuer, CLIENT_ID, extra=flags, name="promo-caps")
    yield backend
    backend.stop()


def token(issuer: StaticIssuer, email: str) -> str:
    now = int(time.time())
    claims = issuer.claims(email, ["platform-admins"], CLIENT_ID)
    return issuer.sign({**claims, "iat": now, "exp": now + 600, "auth_time": now})


def fail(stack: Stack, name: str) -> None:
    """As mgmt's admin: the promotion ends (what the executor writes when a step fails)."""
    patch = {"status": {"phase": "Failed", "message": "ended by the test"}}
    stack.kubectl(
        "mgmt", "patch", "promotion.scipian.io", name, "--subresource=status",
        "--type=merge", "-p", json.dumps(patch),
    )  # fmt: skip


def test_per_user_caps(
    stack: Stack,
    issuer: StaticIssuer,
    capped: BackendProcess,
    charts: dict[str, Archive],
    release: str,
    admin: Any,
) -> None:
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    api = Api(capped.url)
    user = f"caps-{uuid.uuid4().hex[:8]}@example.test"
    body = rollback_plan(release, 1, "prod")
    first = api.create(token(issuer, user), **body)
    assert first.status_code == 201, first.text
    active = api.create(token(issuer, user), **body)
    assert active.status_code == 429, active.text
    assert active.json()["message"] == (
        f"oidc:{user} has 1 unfinished promotions (at most 1); wait for one or cancel it"
    )
    assert int(active.headers["Retry-After"]) > 0
    # another user is not counted with this one
    other = api.create(token(issuer, f"other-{user}"), **rollback_plan(f"{release}x", 1, "prod"))
    assert other.status_code == 404  # past the caps: no such revision of that release
    fail(stack, first.json()["metadata"]["name"])
    second = api.create(token(issuer, user), **body)
    assert second.status_code == 201, second.text
    fail(stack, second.json()["metadata"]["name"])
    hourly = api.create(token(issuer, user), **body)
    assert hourly.status_code == 429
    assert hourly.json()["message"] == (
        f"oidc:{user} created 2 promotions in the last hour (at most 2)"
    )
    assert 0 < int(hourly.headers["Retry-After"]) <= 3601

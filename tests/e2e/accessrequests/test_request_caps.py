"""The access request caps (change.md §9, §11; docs/api.md "Access requests"): pending
requests per user and environment, pending requests per user, creations per user and
hour, each a 429 with Retry-After, counted on mgmt so that every replica sees the same
numbers; and the notification of each state change (`serve --notify-url`, to a small HTTP
server of the test's own: tests/e2e/test_notify.py's Receiver).

Backends of this module's own with small numbers (`--request-max-pending-per-env 2`,
`--request-max-pending-per-user 3`, `--request-creations-per-hour 5`) and a username and
groups prefix of their own (`caps:`): the people logging in are the stack's, but as
`caps:bob@example.test` they are nobody any other test asks or counts for. The module
grants that user `request-deploy` and `request-read` on dev and staging (caps:carol
`request-deploy` and caps:dave `approve` on dev, for the notifications), and removes the
grants and every request it made at its end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scipian_backend.identity.names import user_hash
from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.e2e.test_notify import ALLOWED_KEYS, TIME, Receiver
from tests.helpers import env_grant, wait_for
from tests.stack.backend_daemon import BackendProcess, spawn_backend

pytestmark = pytest.mark.stack

PREFIX = "caps:"
USER = f"{PREFIX}bob@example.test"
CAROL = f"{PREFIX}carol@example.test"
DAVE = f"{PREFIX}dave@example.test"
PER_ENV, PER_USER, PER_HOUR = 2, 3, 5
FLAGS = [
    f"--username-prefix={PREFIX}",
    f"--groups-prefix={PREFIX}",
    f"--request-max-pending-per-env={PER_ENV}",
    f"--request-max-pending-per-user={PER_USER}",
    f"--request-creations-per-hour={PER_HOUR}",
]


def grants() -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for env in ("dev", "staging"):
        for level in ("read", "deploy"):
            name = f"t-areq-caps-{env}-{level}"
            items += env_grant(name, f"request-{level}", USER, [env])
    items += env_grant("t-areq-caps-carol", "request-deploy", CAROL, ["dev"])
    items += env_grant("t-areq-caps-dave", "approve", DAVE, ["dev"])
    return {"apiVersion": "v1", "kind": "List", "items": items}


@pytest.fixture(scope="module")
def granted(stack: Stack) -> Iterator[None]:
    manifest = json.dumps(grants())
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        hashes = ",".join(user_hash(u) for u in (USER, CAROL))
        selector = f"scipian.io/user-hash in ({hashes})"
        out = stack.kubectl(
            "mgmt", "get", "accessrequests.scipian.io", "-l", selector, "-o", "name"
        )  # fmt: skip
        for name in out.stdout.split():
            stack.kubectl(
                "mgmt", "patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                check=False,
            )  # fmt: skip
            stack.kubectl("mgmt", "delete", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(scope="module")
def backends(stack: Stack, granted: None, receiver: Receiver) -> Iterator[tuple[Api, Api]]:
    """Two replicas of the same settings (the first notifies): what one counted, the other
    sees."""
    issuer, client = stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"]
    started: list[BackendProcess] = []
    try:
        for name, more in (
            ("areq-caps-1", [f"--notify-url={receiver.url()}"]),
            ("areq-caps-2", []),
        ):
            started.append(spawn_backend(issuer, client, FLAGS + more, name=name))
        yield Api(started[0].url), Api(started[1].url)
    finally:
        for b in started:
            b.stop()


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


def ask(api: Api, token: str, env: str, level: str = "deploy") -> requests.Response:
    body = {"level": level, "durationSeconds": 600, "justification": "caps test"}
    return api.call("POST", f"/api/v1/environments/{env}/accessrequests", token, body)


def made(api: Api, token: str, env: str, level: str = "deploy") -> str:
    r = ask(api, token, env, level)
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["requester"]["user"] == USER
    return str(r.json()["metadata"]["name"])


def refused(r: requests.Response, message: str) -> int:
    """Asserts the caps' 429 with `message`; returns its Retry-After."""
    assert r.status_code == 429, r.text
    assert r.json() == {"reason": "TooManyRequests", "message": message}
    return int(r.headers["Retry-After"])


def cancel(api: Api, token: str, name: str) -> None:
    r = api.call("POST", f"/api/v1/accessrequests/{name}/cancel", token, {})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["phase"] == "Cancelled"


def test_pending_per_environment_per_user_and_creations_per_hour(
    backends: tuple[Api, Api], logins: Logins
) -> None:
    one, two = backends
    bob = logins.token("bob")
    a = made(one, bob, "dev")
    b = made(two, bob, "dev", "read")
    # two pending on dev (whatever their level): a third there is refused, on either replica
    for api in (one, two):
        wait = refused(
            ask(api, bob, "dev"),
            f"{USER} has {PER_ENV} pending access requests on dev (at most {PER_ENV}); "
            "wait for a decision or cancel one",
        )
        assert wait == 60
    d = made(one, bob, "staging")
    # three pending in all: staging (one pending there) is refused too
    refused(
        ask(two, bob, "staging", "read"),
        f"{USER} has {PER_USER} pending access requests (at most {PER_USER}); "
        "wait for a decision or cancel one",
    )
    # a cancelled request counts no more as pending, but still as a creation
    cancel(one, bob, a)
    e = made(two, bob, "staging", "read")
    cancel(two, bob, b)
    made(one, bob, "dev")  # the fifth creation this hour
    cancel(one, bob, d)
    cancel(two, bob, e)
    for api in (one, two):
        wait = refused(
            ask(api, bob, "dev"),
            f"{USER} created {PER_HOUR} access requests in the last hour (at most {PER_HOUR})",
        )
        # until the oldest of the five leaves the hour
        assert 3000 < wait <= 3601


def test_each_state_change_notifies_once(
    backends: tuple[Api, Api], logins: Logins, receiver: Receiver
) -> None:
    one, _ = backends
    why = f"INC-{uuid.uuid4().hex[:8]}"
    r = one.call(
        "POST",
        "/api/v1/environments/dev/accessrequests",
        logins.token("carol"),
        {"level": "deploy", "durationSeconds": 900, "justification": why},
    )
    assert r.status_code == 201, r.text
    name = r.json()["metadata"]["name"]
    dave = logins.fresh("dave")
    for what, reason in (("approvals", "fine"), ("approvals", "twice"), ("revoke", "over")):
        one.call("POST", f"/api/v1/accessrequests/{name}/{what}", dave, {"justification": reason})

    def mine() -> list[dict[str, Any]]:
        return [e for e in (p.event() for p in list(receiver.posts)) if e.get("name") == name]

    wait_for("the request's notifications", lambda: len(mine()) >= 3)
    got = mine()
    assert [e["type"] for e in got] == ["request.pending", "request.approved", "request.revoked"]
    assert [(e["user"], e["justification"], e["phase"]) for e in got] == [
        (CAROL, why, "Pending"),
        (DAVE, "fine", "Approved"),
        (DAVE, "over", "Revoked"),
    ]
    for e in got:
        assert set(e) <= ALLOWED_KEYS, e
        assert TIME.fullmatch(e["time"])
        assert (e["environment"], e["requester"], e["level"]) == ("dev", CAROL, "deploy")
        assert e["namespaces"] == ["shop"] and e["durationSeconds"] == 900
        assert e["approvalsRequired"] == 1
        assert "eyJ" not in json.dumps(e)
    assert [e["approvals"] for e in got] == [0, 1, 1]

"""Notifications (`serve --notify-url`, change.md §11; audit/notify.py) against the real stack.

A backend of this module's own (spawn_backend, with a worker room that works only this
module's promotions: `--worker-selector`) posts to a small HTTP server the test runs
itself, through a URL with credentials and a secret path. What arrives is checked field by
field for a break-glass on prod (dave), a gated rollback awaiting prod's approval (carol
starts it) and its outcome (executed by this backend: the promotion's execution Lease is
given to it while the step waits, as the failover test does), and no body carries a token,
a kubeconfig, the password or other text it should not; an access request (bob on prod)
Pending and cancelled; `scipian_pending_approvals` counting the step and the request while
they wait. The URL's credentials and path never reach the backend's log. A receiver that
stops answering delays no request: the break-glass still succeeds, and what the queue
cannot hold is dropped and counted.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from scipian_backend.worker.leases import lease_name, stamp
from tests.conftest import Stack
from tests.e2e.promotions.conftest import cleanup
from tests.e2e.promotions.world import (
    NAMESPACE,
    Api,
    Archive,
    Flow,
    Helm,
    Logins,
    release_name,
    rollback_plan,
    step_of,
)
from tests.helpers import wait_for
from tests.prometheus_text import sample
from tests.stack.backend_daemon import BACKEND_NS, BackendProcess, spawn_backend

pytestmark = pytest.mark.stack

CAROL = "oidc:carol@example.test"
DAVE = "oidc:dave@example.test"
BOB = "oidc:bob@example.test"
SHARD = "scipian.io/test-notify"  # this module's backend works only promotions labelled so
HOOK_USER = "notify-bot"
HOOK_PASSWORD = "hook-pw-" + uuid.uuid4().hex[:12]
HOOK_PATH = "/services/T0/B0/" + uuid.uuid4().hex  # a chat webhook's path is its key
WAIT = 60.0  # a bound on waiting for a post, not a timing assertion
ALLOWED_KEYS = {
    "type", "time", "environment", "name", "id", "user", "requester", "justification",
    "level", "phase", "approvals", "approvalsRequired", "namespaces", "durationSeconds",
    "expiresAt", "reason",
}  # fmt: skip
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


class Receiver:
    """The notification endpoint: records every POST; `hang()` makes it stop answering
    (each request waits until `answer()`), as a receiver that died behind a firewall."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.hung = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length)
                if not owner._open.is_set():
                    with owner._lock:
                        owner.hung += 1
                    owner._open.wait(WAIT)
                    return  # no answer: the sender has given up by now
                with owner._lock:
                    owner.posts.append(Post(self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://{HOOK_USER}:{HOOK_PASSWORD}@127.0.0.1:{self.port}{HOOK_PATH}"

    def hang(self) -> None:
        self._open.clear()

    def answer(self) -> None:
        self._open.set()

    def received(self) -> list[Post]:
        with self._lock:
            return list(self.posts)

    def wait(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event posted that `match`es (waiting for it, bounded)."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [p.event() for p in self.received() if match(p.event())]
            return bool(found)

        wait_for(what, seen, WAIT)
        return found[0]

    def close(self) -> None:
        self.answer()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def replica() -> str:
    return f"notify-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def backend(stack: Stack, receiver: Receiver, replica: str) -> Iterator[BackendProcess]:
    started = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        stack.env["STACK_IDP_CLIENT_ID"],
        extra=(
            f"--notify-url={receiver.url()}",
            # small numbers, so that a receiver that stops answering fills the queue
            "--notify-queue=1",
            "--notify-timeout-seconds=2",
            "--notify-retries=1",
            "--pending-approvals-cache-seconds=0.5",
            f"--replica-id={replica}",
            f"--worker-selector={SHARD}={replica}",
        ),
        name="notify",
        worker=True,
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(backend: BackendProcess) -> Api:
    return Api(backend.url)


@pytest.fixture(scope="module")
def helm(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(Path(stack.env["STACK_HELM"]), tmp_path_factory.mktemp("notify-helm"))


@pytest.fixture(scope="module")
def charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    out = tmp_path_factory.mktemp("notify-charts")
    return {v: helm.package(v, out) for v in ("1.1.0", "1.2.0")}


@pytest.fixture
def release(stack: Stack, helm: Helm) -> Iterator[str]:
    name = release_name("t-nt")
    yield name
    cleanup(stack, helm, name)


def break_glass(api: Api, token: str, why: str) -> requests.Response:
    body = {"level": "deploy", "justification": why, "breakGlass": True}
    return api.call("POST", "/api/v1/environments/prod/kubeconfig", token, body)


def entry_id(stack: Stack, why: str) -> str:
    out = stack.kubectl("mgmt", "get", "environment", "prod", "-o", "json")
    entries = (json.loads(out.stdout).get("status") or {}).get("breakGlass") or []
    [entry] = [e for e in entries if e.get("reason") == why]
    return str(entry["id"])


def kubeconfig_token(answer: dict[str, Any]) -> str:
    doc = yaml.safe_load(answer["kubeconfig"])
    return str(doc["users"][0]["user"]["token"])


def give_lease(stack: Stack, promotion: str, holder: str) -> None:
    """The promotion's execution Lease, held by `holder` for an hour (as mgmt's admin)."""
    now = stamp(datetime.now(timezone.utc))
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": lease_name("promotion", promotion), "namespace": BACKEND_NS},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 3600,
            "acquireTime": now,
            "renewTime": now,
        },
    }
    stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(lease))


def metrics(backend: BackendProcess) -> str:
    return requests.get(f"{backend.url}/metrics", timeout=10).text


def assert_clean(posts: list[Post], *secrets: str) -> None:
    """Every posted body: one JSON object of allowed keys, none of the secrets in it."""
    assert posts
    for post in posts:
        event = post.event()
        assert set(event) <= ALLOWED_KEYS, event
        assert TIME.match(event["time"]), event
        text = post.body.decode()
        for secret in secrets:
            assert secret not in text
        for word in ("kubeconfig", "token", "eyJ", "BEGIN ", "apiVersion", "values"):
            assert word not in text, event


def test_break_glass_is_announced_with_who_and_why(
    stack: Stack, api: Api, logins: Logins, receiver: Receiver, backend: BackendProcess
) -> None:
    why = f"INC-{uuid.uuid4().hex[:8]} notify test"
    dave = logins.fresh("dave")
    answer = break_glass(api, dave, why)
    assert answer.status_code == 200, answer.text
    glass = entry_id(stack, why)
    event = receiver.wait(
        "the break-glass event",
        lambda e: e["type"] == "breakglass" and e.get("justification") == why,
    )
    assert event == {
        "type": "breakglass",
        "time": event["time"],
        "environment": "prod",
        "id": glass,
        "user": DAVE,
        "justification": why,
    }
    mine = [p for p in receiver.received() if why.encode() in p.body]
    assert len(mine) == 1  # one event per break-glass
    # the URL's user:password became Basic auth, its path the request's path
    basic = base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode()
    assert mine[0].headers["Authorization"] == f"Basic {basic}"
    assert mine[0].path == HOOK_PATH
    assert mine[0].headers["Content-Type"] == "application/json"
    assert_clean(
        receiver.received(),
        dave,
        kubeconfig_token(answer.json()),
        stack.env["STACK_PASSWORD"],
        HOOK_PASSWORD,
    )
    sent = sample(metrics(backend), "scipian_notifications_total", outcome="sent")
    assert sent >= 1


def test_a_promotion_awaiting_approval_and_its_outcome(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
    receiver: Receiver,
    backend: BackendProcess,
    replica: str,
) -> None:
    prod = stack.kubeconfig("prod")
    for version in ("1.1.0", "1.2.0"):  # prod's admin: revisions 1 and 2
        helm.run(prod, "upgrade", "--install", release, str(charts[version].path), "-n", NAMESPACE)
    carol = logins.fresh("carol")
    plan = rollback_plan(release, 1, "prod")
    created = api.create(carol, **plan)
    assert created.status_code == 201, created.text
    promo = created.json()
    name = promo["metadata"]["name"]
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval"
    # Only this module's backend may execute it: its label and its execution Lease, given
    # while the step waits for its approval (no replica wants a turn before).
    stack.kubectl("mgmt", "label", "promotion.scipian.io", name, f"{SHARD}={replica}")
    give_lease(stack, name, replica)
    try:
        awaiting = receiver.wait(
            "the AwaitingApproval event",
            lambda e: e["type"] == "promotion.awaiting_approval" and e.get("name") == name,
        )
        assert awaiting == {
            "type": "promotion.awaiting_approval",
            "time": awaiting["time"],
            "environment": "prod",
            "name": name,
            "user": CAROL,
            "requester": CAROL,
            "justification": plan["justification"],
            "approvals": 0,
            "approvalsRequired": 1,
        }
        # counted while it waits (cluster-wide: other tests' steps may wait too)
        wait_for(
            "scipian_pending_approvals{kind=promotion} counting it",
            lambda: sample(metrics(backend), "scipian_pending_approvals", kind="promotion") >= 1,
            WAIT,
        )
        dave = logins.fresh("dave")
        diff = api.call("GET", f"/api/v1/promotions/{name}/steps/prod/diff", dave)
        assert diff.status_code == 200, diff.text
        approved = api.approve(dave, name, "prod", f"roll back {release}", diff.json()["digest"])
        assert approved.status_code == 200, approved.text
        done = Flow(api).finished(dave, approved.json())
        assert done["status"]["phase"] == "Succeeded", done["status"]
        assert step_of(done, "prod")["executedBy"] == replica
        outcome = receiver.wait(
            "the outcome event",
            lambda e: e["type"].startswith("promotion.") and e.get("name") == name
            and e["type"] != "promotion.awaiting_approval",
        )  # fmt: skip
        assert outcome == {
            "type": "promotion.succeeded",
            "time": outcome["time"],
            "environment": "prod",
            "name": name,
            "requester": CAROL,
            "justification": plan["justification"],
            "phase": "Succeeded",
        }
        mine = [p for p in receiver.received() if name.encode() in p.body]
        # the approval (AwaitingApproval -> Pending) and the step's own phases say nothing
        assert [p.event()["type"] for p in mine] == [
            "promotion.awaiting_approval",
            "promotion.succeeded",
        ]
        assert_clean(mine, carol, dave, stack.env["STACK_PASSWORD"])
    finally:
        stack.kubectl(
            "mgmt", "delete", "lease", "-n", BACKEND_NS, lease_name("promotion", name),
            check=False,
        )  # fmt: skip


def test_an_access_request_pending_and_cancelled(
    stack: Stack, api: Api, logins: Logins, receiver: Receiver, backend: BackendProcess
) -> None:
    why = f"notify test {uuid.uuid4().hex[:8]}"
    bob = logins.fresh("bob")  # team-b: may request deploy on prod (§13)
    body = {"level": "deploy", "durationSeconds": 600, "justification": why}
    asked = api.call("POST", "/api/v1/environments/prod/accessrequests", bob, body)
    assert asked.status_code == 201, asked.text
    name = asked.json()["metadata"]["name"]
    try:
        pending = receiver.wait(
            "the request.pending event",
            lambda e: e["type"] == "request.pending" and e.get("name") == name,
        )
        assert (pending["environment"], pending["user"], pending["justification"]) == (
            "prod",
            BOB,
            why,
        )
        wait_for(
            "scipian_pending_approvals{kind=request} counting it",
            lambda: sample(metrics(backend), "scipian_pending_approvals", kind="request") >= 1,
            WAIT,
        )
        cancel = {"justification": "not needed after all"}
        done = api.call("POST", f"/api/v1/accessrequests/{name}/cancel", bob, cancel)
        assert done.status_code == 200, done.text
        cancelled = receiver.wait(
            "the request.cancelled event",
            lambda e: e["type"] == "request.cancelled" and e.get("name") == name,
        )
        assert (cancelled["environment"], cancelled["user"]) == ("prod", BOB)
        mine = [p for p in receiver.received() if name.encode() in p.body]
        assert [p.event()["type"] for p in mine] == ["request.pending", "request.cancelled"]
        assert_clean(mine, bob, stack.env["STACK_PASSWORD"])
    finally:
        stack.kubectl(
            "mgmt", "delete", "accessrequests.scipian.io", name, "--wait=false", check=False
        )


def test_a_receiver_that_stops_answering_delays_no_request(
    stack: Stack, api: Api, logins: Logins, receiver: Receiver, backend: BackendProcess
) -> None:
    before = sample(metrics(backend), "scipian_notifications_total", outcome="dropped")
    failed = sample(metrics(backend), "scipian_notifications_total", outcome="failed")
    receiver.hang()
    try:
        dave = logins.fresh("dave")
        tag = uuid.uuid4().hex[:8]
        # Three break-glasses: the first post hangs, one waits in the queue (1 place),
        # the rest is dropped; each credential is answered all the same.
        for i in range(3):
            answer = break_glass(api, dave, f"INC-{tag}-{i} receiver down")
            assert answer.status_code == 200, answer.text
            assert answer.json()["level"] == "deploy"
        wait_for(
            "a dropped notification counted",
            lambda: (
                sample(metrics(backend), "scipian_notifications_total", outcome="dropped") > before
            ),
            WAIT,
        )
        wait_for(
            "a post that never got an answer counted failed",
            lambda: (
                sample(metrics(backend), "scipian_notifications_total", outcome="failed") > failed
            ),
            WAIT,
        )
        assert receiver.hung >= 1
    finally:
        receiver.answer()
    # The failure was logged by the URL's scheme and host alone.
    log = backend.log_path.read_text(errors="replace")
    assert "not sent" in log and f"http://127.0.0.1:{receiver.port}" in log
    assert HOOK_PASSWORD not in log and HOOK_PATH not in log and HOOK_USER not in log

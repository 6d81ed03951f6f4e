"""The backend runs as production runs it (docs/stack.md "The backend's replicas"): replicas
behind HAProxy; on SIGTERM a replica fails /readyz first, then drains what is in flight.

- the stack's own replicas each answer through its balancer, each request once, logged in
  the replica's own log and the merged one;
- SIGTERM, on a backend of this test's own: /readyz fails while everything else is still
  served, then the replica stops listening, finishes the request in flight and exits 0;
  a request still running after `--shutdown-drain-seconds` is cut;
- a rolling restart (SIGTERM one, wait for it to end, start it again on its port, wait for
  the balancer to see it up, then the other) of two backends of this test's own behind a
  balancer of its own, the stack's configuration, under a soak load: no request fails, and
  the soak's clients never retry.

A replica killed during a promotion, the other finishing it, is
tests/e2e/promotions/test_promotion_failover.py (through a balancer of its own).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import Logins
from tests.helpers import backend_log_lines, wait_for
from tests.stack.backend_daemon import (
    REPLICA_FLAGS,
    BackendProcess,
    StaticIssuer,
    spawn_backend,
)
from tests.stack.balancer import Balancer

pytestmark = pytest.mark.stack

CLIENT_ID = "kubectl-scipian"


def stack_replicas(stack: Stack) -> list[str]:
    count = int(stack.env.get("STACK_BACKEND_REPLICAS") or 1)
    if count < 2:
        pytest.skip("the stack runs one backend (STACK_BACKEND_REPLICAS=1)")
    return [stack.env[f"STACK_BACKEND_{i}_URL"] for i in range(count)]


def test_each_replica_answers_through_the_balancer(stack: Stack) -> None:
    urls = stack_replicas(stack)
    front = stack.env["SCIPIAN_BACKEND_URL"]
    assert front not in urls
    tag = f"t-replicas-{uuid.uuid4().hex[:8]}"
    ids = [f"{tag}-{n}" for n in range(20)]
    with requests.Session() as s:
        s.trust_env = False
        for rid in ids:
            # Refused as unauthenticated: one audit line naming the request id, no state.
            r = s.get(
                f"{front}/api/v1/environments",
                headers={"Authorization": "Bearer not-a-token", "X-Request-Id": rid},
                timeout=30,
            )
            assert (r.status_code, r.headers.get("X-Request-Id")) == (401, rid), r.text
    merged = backend_log_lines(stack, lambda x: str(x.get("requestId")).startswith(tag), 20)
    assert sorted(x["requestId"] for x in merged) == sorted(ids)  # each answered once
    logs = Path(stack.env["STACK_LOGS_DIR"])
    served = {}
    for i in range(len(urls)):
        text = (logs / f"backend-{i}.log").read_text(errors="replace")
        served[i] = [rid for rid in ids if f'"requestId":"{rid}"' in text]
    assert all(served.values()), served  # round robin: every replica answered some
    assert sorted(rid for got in served.values() for rid in got) == sorted(ids)  # each once


# --- SIGTERM on one replica -------------------------------------------------------------------


@pytest.fixture
def issuer() -> Iterator[StaticIssuer]:
    """An issuer whose JWKS answers the test can hold: a request verifying a token of an
    unknown key stays in flight until it lets go."""
    static = StaticIssuer()
    try:
        yield static
    finally:
        static.jwks_open.set()
        static.stop()


def in_flight(url: str, issuer: StaticIssuer) -> tuple[threading.Thread, dict[str, Any]]:
    """A request held inside the backend (its JWKS refetch waits for the issuer)."""
    issuer.jwks_open.clear()
    issuer.jwks_asked.clear()
    token = issuer.sign(issuer.claims("held@example.test", [], CLIENT_ID), kid="unknown")
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            r = requests.get(
                f"{url}/api/v1/environments",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
            outcome["answer"] = (r.status_code, r.text)
        except requests.RequestException as e:
            outcome["answer"] = (0, type(e).__name__)
        outcome["jwks held"] = not issuer.jwks_open.is_set()

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    assert issuer.jwks_asked.wait(30), "the held request never reached the JWKS"
    return thread, outcome


def status(url: str) -> int:
    """The HTTP status, or 0 when nothing listens."""
    try:
        return requests.get(url, timeout=10).status_code
    except requests.ConnectionError:
        return 0


def test_sigterm_fails_readyz_then_drains_the_request_in_flight(issuer: StaticIssuer) -> None:
    backend = spawn_backend(
        issuer.issuer,
        CLIENT_ID,
        ("--jwks-min-refetch=0", "--shutdown-unready-seconds=8", "--shutdown-drain-seconds=60"),
        name="drain",
    )
    try:
        thread, outcome = in_flight(backend.url, issuer)
        backend.process.send_signal(signal.SIGTERM)
        wait_for("/readyz failing", lambda: status(backend.url + "/readyz") == 503, 8)
        # Still serving meanwhile: liveness, and every other route.
        assert status(backend.url + "/healthz") == 200
        refused = requests.get(
            f"{backend.url}/api/v1/environments",
            headers={"Authorization": "Bearer not-a-token"},
            timeout=10,
        )
        assert refused.status_code == 401
        wait_for("the replica to stop listening", lambda: status(backend.url + "/healthz") == 0)
        assert backend.process.poll() is None  # draining: the held request is not done
        assert thread.is_alive()
        issuer.jwks_open.set()
        thread.join(30)
        status_code, body = outcome["answer"]
        assert status_code == 401, body  # answered in full: an unknown key
        assert json.loads(body)["message"] == "id_token signed by an unknown key"
        assert backend.process.wait(60) == 0
    finally:
        backend.stop()


def test_a_request_longer_than_the_drain_is_cut(issuer: StaticIssuer) -> None:
    backend = spawn_backend(
        issuer.issuer,
        CLIENT_ID,
        ("--jwks-min-refetch=0", "--shutdown-unready-seconds=0", "--shutdown-drain-seconds=1"),
        name="drain-cut",
    )
    try:
        thread, outcome = in_flight(backend.url, issuer)
        backend.process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert not thread.is_alive()
        assert outcome["jwks held"]  # cut, not answered: its JWKS never came
        assert outcome["answer"][0] in (0, 500), outcome["answer"]
    finally:
        issuer.jwks_open.set()
        backend.stop()


# --- a rolling restart under load ---------------------------------------------------------------


class Soak:
    """Clients calling GET /api/v1/environments through the balancer as fast as they can,
    each on a keep-alive session, never retrying: every answer but a 200 with the list counts
    as a failure."""

    def __init__(self, url: str, token: str, clients: int = 6) -> None:
        self.url, self.token = url, token
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(clients)]

    def client(self) -> None:
        with requests.Session() as s:
            s.trust_env = False
            s.headers["Authorization"] = f"Bearer {self.token}"
            while not self.stop.is_set():
                why = ""
                try:
                    r = s.get(f"{self.url}/api/v1/environments", timeout=60)
                    if r.status_code != 200 or "items" not in r.json():
                        why = f"HTTP {r.status_code}: {r.text[:200]}"
                except (requests.RequestException, ValueError) as e:
                    why = type(e).__name__
                with self.lock:
                    if why:
                        self.failures.append(why)
                    else:
                        self.ok += 1

    def __enter__(self) -> Soak:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(90)


class Watch:
    """Every state the balancer reports for each server while it runs."""

    def __init__(self, front: Balancer) -> None:
        self.front = front
        self.seen: dict[str, set[str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for name, state in self.front.states().items():
                self.seen.setdefault(name, set()).add(state.split()[0])
            time.sleep(0.1)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def pair(stack: Stack) -> Iterator[dict[str, BackendProcess]]:
    """Two backends of this test's own, as the stack runs its replicas."""
    started: dict[str, BackendProcess] = {}
    try:
        for key in ("r0", "r1"):
            started[key] = spawn_backend(
                stack.env["STACK_IDP_ISSUER"],
                stack.env["STACK_IDP_CLIENT_ID"],
                REPLICA_FLAGS,
                name=f"rolling-{key}",
            )
        yield started
    finally:
        for proc in started.values():
            proc.stop()


def test_a_rolling_restart_under_load_fails_no_request(
    stack: Stack, pair: dict[str, BackendProcess]
) -> None:
    servers = [(key, proc.url.removeprefix("http://")) for key, proc in pair.items()]
    front = Balancer.spawn("rolling", servers)
    try:
        token = Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"]).fresh("alice")
        figures: dict[str, Any] = {}
        started = time.monotonic()
        with Watch(front) as watch, Soak(front.url, token) as soak:
            wait_for("the soak under way", lambda: soak.ok >= 20, 60)
            for key in list(pair):
                old = pair[key]
                took = time.monotonic()
                old.process.send_signal(signal.SIGTERM)
                assert old.process.wait(90) == 0  # drained and ended by itself
                port = int(old.url.rsplit(":", 1)[1])
                pair[key] = spawn_backend(
                    stack.env["STACK_IDP_ISSUER"],
                    stack.env["STACK_IDP_CLIENT_ID"],
                    REPLICA_FLAGS,
                    name=f"rolling-{key}",
                    port=port,
                )
                front.wait_state(key, "UP", 60)
                figures[f"{key} down and back (s)"] = round(time.monotonic() - took, 1)
            before = soak.ok
            wait_for("the soak going on after the restarts", lambda: soak.ok >= before + 20, 60)
        figures.update(
            seconds=round(time.monotonic() - started, 1),
            requests=soak.ok + len(soak.failures),
            failed=len(soak.failures),
        )
        print(f"rolling restart: {figures}")
        assert soak.failures == [], soak.failures[:5]
        # The balancer took each replica out (its /readyz failing) and put it back.
        assert {key: {"DOWN", "UP"} <= watch.seen.get(key, set()) for key in pair} == {
            key: True for key in pair
        }, watch.seen
    finally:
        front.stop()

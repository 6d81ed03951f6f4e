"""`serve --forwarded-allow-ips` (the chart's `forwardedAllowIPs`): whose X-Forwarded-For the
backend believes, on backends of this module's own.

A client that is not a listed proxy cannot choose the address the backend records for it by
sending X-Forwarded-For; behind a listed proxy (an Ingress controller, a Gateway, a
balancer) the backend records the client's address the proxy forwarded, not the proxy's.
What the backend believed is read from its access log (uvicorn's, at --log-level=info),
after the process ended so that every line is written.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.conftest import Stack
from tests.stack.backend_daemon import spawn_backend

pytestmark = pytest.mark.stack
FORGED = "203.0.113.9"


def recorded_client(stack: Stack, allow: str) -> str:
    """The client address the backend's access log gives a request from this (loopback)
    process carrying X-Forwarded-For: FORGED."""
    b = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        "kubectl-scipian",
        extra=["--log-level=info", f"--forwarded-allow-ips={allow}"],
        name="forwarded",
    )
    marker = uuid.uuid4().hex
    try:
        http = requests.Session()
        http.trust_env = False
        r = http.get(
            f"{b.url}/healthz?probe={marker}",
            headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"},
            timeout=30,
        )
        assert r.status_code == 200
    finally:
        b.stop()
    [line] = [line for line in b.log_path.read_text().splitlines() if marker in line]
    # uvicorn: 'INFO:     <host>:<port> - "GET /healthz?probe=... HTTP/1.1" 200 OK'
    return line.split()[1].rsplit(":", 1)[0]


def test_a_peer_that_is_not_a_listed_proxy_cannot_forge_its_address(stack: Stack) -> None:
    assert recorded_client(stack, "192.0.2.1") == "127.0.0.1"


def test_a_listed_proxy_forwards_the_clients_address(stack: Stack) -> None:
    assert recorded_client(stack, "127.0.0.0/8") == FORGED

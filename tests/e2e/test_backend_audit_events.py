"""The audit trail's Events on the management cluster, as `kubectl describe environment`
shows them: issuances and denials of one user on one Environment within a flush interval
become one Event with a count and the request ids (scipian_backend/audit.py).

The stack's own backend, real logins at the stack's provider; Events read from mgmt.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
import requests
from kubernetes import client, config

from tests.conftest import Stack
from tests.helpers import wait_for
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack
LISTED = re.compile(r"\(requests? ([^()]*)\)$")


def _token(stack: Stack, user: str) -> str:
    env = stack.env
    tokens = authcode_flow_tokens(
        env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], user, env["STACK_PASSWORD"]
    )
    return str(tokens["id_token"])


def _one_replica(stack: Stack) -> str:
    """One backend process: each replica aggregates its own Events (one interval, one
    Event per replica), so the counts below are one process's, never the balancer's."""
    return stack.env.get("STACK_BACKEND_0_URL") or stack.env["SCIPIAN_BACKEND_URL"]


def _issue(stack: Stack, token: str, env_id: str, request_id: str) -> int:
    with requests.Session() as s:
        s.trust_env = False
        r = s.post(
            f"{_one_replica(stack)}/api/v1/environments/{env_id}/kubeconfig",
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
            timeout=30,
        )
    return r.status_code


def _events_naming(stack: Stack, request_ids: list[str]) -> list[dict[str, Any]]:
    api = client.CoreV1Api(
        config.new_client_from_config(config_file=stack.env["STACK_MGMT_KUBECONFIG"])
    )
    items = api.list_namespaced_event("default").to_dict()["items"]
    return [e for e in items if any(rid in (e.get("message") or "") for rid in request_ids)]


def _listed_ids(message: str) -> list[str]:
    """The request ids at the end of an Event's message: `(request A)`, `(requests A, B)`."""
    m = LISTED.search(message)
    assert m, message
    return m.group(1).split(", ")


def test_issuances_in_one_interval_are_one_event_with_a_count(stack: Stack) -> None:
    token = _token(stack, "alice")
    ids = [uuid.uuid4().hex for _ in range(3)]
    started = time.monotonic()
    assert [_issue(stack, token, "dev", rid) for rid in ids] == [200, 200, 200]
    took = time.monotonic() - started

    def all_named() -> bool:
        found = _events_naming(stack, ids)
        return all(any(rid in e["message"] for e in found) for rid in ids)

    wait_for("Events naming the three request ids", all_named, timeout=30)
    events = _events_naming(stack, ids)
    assert {e["reason"] for e in events} == {"CredentialsIssued"}
    assert {e["type"] for e in events} == {"Normal"}
    assert {e["involved_object"]["name"] for e in events} == {"dev"}
    assert {e["involved_object"]["kind"] for e in events} == {"Environment"}
    # Other tests' issuances for alice on dev may share an interval: each Event lists
    # every request it counts (up to 20), and each of ours is in exactly one Event.
    listed = [_listed_ids(e["message"]) for e in events]
    assert [len(ids_in) for ids_in in listed] == [e["count"] for e in events]
    assert sorted(rid for ids_in in listed for rid in ids_in if rid in ids) == sorted(ids)
    assert all("oidc:alice@example.test" in e["message"] for e in events)
    assert all(token not in e["message"] for e in events)
    if took < 0.9:  # within one flush interval, or straddling one boundary
        assert len(events) <= 2
        if len(events) == 1:
            assert events[0]["message"].startswith(
                f"issued credentials to oidc:alice@example.test {events[0]['count']} times, "
                "the last until "
            )


def test_denials_are_warning_events(stack: Stack) -> None:
    token = _token(stack, "bob")  # team-b: not allowed on dev
    rid = uuid.uuid4().hex
    assert _issue(stack, token, "dev", rid) == 403
    wait_for("an Event naming the denied request", lambda: _events_naming(stack, [rid]), 30)
    (event,) = _events_naming(stack, [rid])
    assert (event["reason"], event["type"], event["count"]) == ("CredentialsDenied", "Warning", 1)
    assert event["message"] == f"denied oidc:bob@example.test: forbidden (request {rid})"

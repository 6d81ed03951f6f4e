"""Notifications' pure parts (audit/notify.py): the event body, the URL checks, what logs
may say of the URL. The sending itself is tests/e2e/test_notify.py's, against a real server."""

from __future__ import annotations

import base64

import pytest

from scipian_backend.audit.notify import (
    MAX_LIST,
    MAX_STRING,
    TYPES,
    build_event,
    check_notify_url,
    redacted,
    split_credentials,
)
from scipian_backend.config import Settings
from scipian_backend.errors import ConfigError
from scipian_backend.identity.authn import Identity
from scipian_backend.promotions.events import notification
from scipian_backend.promotions.records import Change

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def test_event_carries_type_time_and_the_given_fields() -> None:
    event = build_event(
        "promotion.awaiting_approval",
        {
            "environment": "staging",
            "name": "shop-abcde",
            "user": "oidc:alice@example.test",
            "justification": "release 1.2",
            "approvals_required": 2,
        },
        NOW,
    )
    assert event == {
        "type": "promotion.awaiting_approval",
        "time": "2027-01-15T08:00:00Z",
        "environment": "staging",
        "name": "shop-abcde",
        "user": "oidc:alice@example.test",
        "justification": "release 1.2",
        "approvalsRequired": 2,
    }


def test_fields_outside_the_allow_list_never_reach_the_event() -> None:
    event = build_event(
        "breakglass",
        {
            "environment": "prod",
            "user": "u",
            "values": "password: hunter2",
            "diff": "- a\n+ b",
            "token": "eyJhbGciOi",
            "kubeconfig": "apiVersion: v1",
        },
        NOW,
    )
    assert set(event) == {"type", "time", "environment", "user"}
    assert "hunter2" not in repr(event) and "eyJ" not in repr(event)


def test_structured_values_are_left_out_and_strings_bounded() -> None:
    event = build_event(
        "request.pending",
        {
            "name": {"nested": "secret"},  # a mapping is never passed on, even allowed
            "justification": "x" * (MAX_STRING + 10),
            "namespaces": ["a", {"b": 1}, "c", *(["n"] * (MAX_LIST + 5))],
            "reason": b"bytes",
            "environment": None,
        },
        NOW,
    )
    assert "name" not in event and "reason" not in event and "environment" not in event
    assert len(event["justification"]) == MAX_STRING
    assert event["namespaces"][:2] == ["a", "c"] and len(event["namespaces"]) < MAX_LIST


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError):
        build_event("promotion.exploded", {}, NOW)
    assert "request.pending" in TYPES and "breakglass.acknowledged" in TYPES


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.test/hook",
        "file:///etc/passwd",
        "example.test/hook",
        "http:///nohost",
        "https://host:99999/x",
        "https://host:port/x",
        "https://host/a b",
        "https://host/a\nb",
        "",
    ],
)
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_notify_url(url)
    if url:
        assert url not in str(e.value)  # the URL may carry a secret: never echoed


def test_http_urls_pass() -> None:
    for url in ("http://127.0.0.1:8099/hook", "https://u:p@hooks.example.test/services/T/B/K"):
        assert check_notify_url(url) == url


def test_logs_see_scheme_and_host_only() -> None:
    url = "https://bot:s3cret@hooks.example.test:8443/services/T0/B0/KEYKEY?token=abc"
    shown = redacted(url)
    assert shown == "https://hooks.example.test:8443"
    assert redacted("http://[::1]:9/x") == "http://[::1]:9"


def test_credentials_become_a_basic_header() -> None:
    bare, headers = split_credentials("https://bot:s%40cret@hooks.example.test/x?q=1")
    assert bare == "https://hooks.example.test/x?q=1"
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"bot:s@cret").decode()}
    assert split_credentials("https://hooks.example.test/x") == ("https://hooks.example.test/x", {})


def test_settings_refuse_a_bad_notify_url_and_hide_it_from_repr() -> None:
    base = {"issuer": "https://idp.example.test", "client_id": "c"}
    with pytest.raises(ConfigError):
        Settings(**base, notify_url="gopher://x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Settings(**base, notify_url="https://x", notify_retries=-1)  # type: ignore[arg-type]
    s = Settings(**base, notify_url="https://u:pw@x.test/k")  # type: ignore[arg-type]
    assert "pw@" not in repr(s)


def _promo(*phases: str) -> dict[str, object]:
    envs = ("dev", "staging", "prod")
    return {
        "metadata": {"name": "shop-x1y2z"},
        "spec": {"initiator": {"user": "oidc:alice"}, "justification": "ship it"},
        "status": {
            "steps": [
                {"environment": envs[i], "phase": p, "approvalsRequired": 2, "approvals": [{}]}
                for i, p in enumerate(phases)
            ]
        },
    }


def test_a_step_awaiting_approval_is_announced() -> None:
    promo = _promo("Succeeded", "AwaitingApproval")
    said = notification(promo, Change("staging", "Pending", "AwaitingApproval", ""), None)
    assert said == (
        "promotion.awaiting_approval",
        {
            "name": "shop-x1y2z",
            "requester": "oidc:alice",
            "justification": "ship it",
            "environment": "staging",
            "approvals": 1,
            "approvals_required": 2,
        },
    )
    # the promotion's own AwaitingApproval (it mirrors the step's) says nothing more
    assert notification(promo, Change("", "Running", "AwaitingApproval", ""), None) is None


def test_outcomes_name_where_the_chain_ended_never_the_message() -> None:
    who = Identity("oidc:bob", ("oidc:ops",), "sub-bob")
    failed = notification(
        _promo("Succeeded", "Failed", "Pending"),
        Change("", "Running", "Failed", "staging: helm said password=hunter2"),
        who,
    )
    assert failed is not None and failed[0] == "promotion.failed"
    assert failed[1]["environment"] == "staging" and failed[1]["user"] == "oidc:bob"
    assert "hunter2" not in repr(failed)
    done = notification(
        _promo("Succeeded", "Succeeded"), Change("", "Running", "Succeeded", ""), None
    )
    assert done is not None and done[0] == "promotion.succeeded"
    assert done[1]["environment"] == "staging"
    gone = notification(_promo("Cancelled"), Change("", "AwaitingApproval", "Cancelled", ""), None)
    assert gone is not None and gone[0] == "promotion.cancelled"
    # a step's own Succeeded or Deploying is no notification
    assert (
        notification(_promo("Deploying"), Change("dev", "Pending", "Deploying", ""), None) is None
    )

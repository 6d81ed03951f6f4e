"""Bounded inputs, pure parts (issue #25 items 8, 11, 13): the backend's JSON depth bound,
text checks and buckets; the plugin's escaping of untrusted text, its checks of names
the backend sends, and its issuer policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_scipian.backend.client import _reason, issuer_problem
from kubectl_scipian.errors import BackendError
from kubectl_scipian.helm import printers as helm_printers
from kubectl_scipian.promotions import printers as promotion_printers
from kubectl_scipian.support import names
from kubectl_scipian.support.untrusted import visible
from scipian_backend.audit.events import Series, event_message
from scipian_backend.audit.records import Record
from scipian_backend.errors import BadRequest
from scipian_backend.http.bodies import (
    DEPTH_MESSAGE,
    MAX_DEPTH,
    depth_over,
    json_object,
    kubeconfig_request,
)
from scipian_backend.ratelimit import (
    READ,
    WRITE,
    Rate,
    TooManyRequests,
    parse_rate,
    route_limiters,
)

ESC = "\x1b"
HOSTILE = [ESC + "[2A", "\x9b2A", "a\rb", "tab\there", "x\u202ey", "x\u2066y", "z\u200bw", "\x7f"]


# --- backend: JSON depth ------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """An object `depth` levels deep: {"a": [[...]]}."""
    return ('{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()


def test_json_at_the_depth_bound_is_read() -> None:
    assert json_object(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    assert json_object(b"") == {} and json_object(b"  \n") == {}


@pytest.mark.parametrize(
    "body",
    [
        nested(MAX_DEPTH + 1),
        b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",  # deep enough for RecursionError
        b'{"a":' + b"[" * 60000,  # unterminated: the parser's recursion ends first
        b"[" * 65536,  # L4's body: a 500 and a traceback before
    ],
    ids=["bound+1", "5000", "unterminated", "64k-brackets"],
)
def test_json_deeper_than_the_bound_is_one_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as e:
        json_object(body)
    assert e.value.message == DEPTH_MESSAGE


@pytest.mark.parametrize("body", [b"[1]", b'"x"', b"{", b"\xff\xfe", b"null"])
def test_json_that_is_not_an_object_is_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as e:
        json_object(body)
    assert e.value.message == "request body must be a JSON object"


def test_depth_counts_objects_and_arrays_alike() -> None:
    assert not depth_over({"a": [{"b": 1}]}, 3)
    assert depth_over({"a": [{"b": {}}]}, 3)
    assert not depth_over("flat", 0)


# --- backend: control characters ---------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_a_justification_with_control_characters_is_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        kubeconfig_request({"level": "deploy", "justification": f"fix {text}"})


def test_unknown_field_names_are_quoted_escaped() -> None:
    with pytest.raises(BadRequest) as e:
        kubeconfig_request({ESC + "]52;c;aGk=\x07": 1})
    assert ESC not in e.value.message and "\x07" not in e.value.message
    assert e.value.message == "unknown field(s) in the request body: \\x1b]52;c;aGk=\\x07"


def test_a_denial_event_names_no_justification() -> None:
    """Denials are aggregated without their justifications (audit/events.py); the Event
    names none, an issuance's names its own."""
    common: dict[str, Any] = {"environment": "prod", "user": "oidc:m", "level": "deploy"}
    denied = Record(
        event="denial", request_id="r1", outcome="forbidden", justification="spam 1", **common
    )
    series = Series(denied, None)
    series.add(denied.__class__(**{**denied.__dict__, "justification": "spam 2"}))
    assert event_message(series) == "denied oidc:m deploy credentials 2 times: forbidden " + (
        "(requests r1, r1)"
    )
    issued = Record(
        event="issuance", request_id="r2", outcome="issued", justification="fix it", **common
    )
    assert "justification 'fix it'" in event_message(Series(issued, None))


# --- backend: buckets ----------------------------------------------------------------------


def test_default_bursts_are_change_md_s_and_never_above_the_rate() -> None:
    assert parse_rate("600/60s", None, most=100) == Rate(600, 60.0, 100)
    assert parse_rate("1/3s", None, most=100) == Rate(1, 3.0, 1)
    assert parse_rate("600/60s", 7, most=100) == Rate(600, 60.0, 7)
    limiters = route_limiters(None)
    assert limiters[READ].rate == Rate(1200, 60.0, 200)
    assert limiters[WRITE].rate == Rate(120, 60.0, 30)
    assert set(route_limiters(None, read=("0", None))) == {WRITE}


def test_a_route_bucket_answers_429_in_its_own_words() -> None:
    limiter = route_limiters(None, read=("1/60s", None))[READ]
    limiter.admit("oidc:a")
    with pytest.raises(TooManyRequests) as e:
        limiter.admit("oidc:a")
    assert e.value.message.startswith("too many requests; retry in ")
    assert e.value.headers["Retry-After"].isdigit()
    limiter.admit("oidc:b")  # per user


# --- plugin: escaping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (ESC + "[2A", "\\x1b[2A"),
        ("\x9b", "\\x9b"),
        ("a\r\nb\t", "a\\x0d\\x0ab\\x09"),
        ("x\u202ey\u2069", "x\\u202ey\\u2069"),
        ("\ud800", "\\ud800"),
        ("plain é ü 中文 ✓", "plain é ü 中文 ✓"),
    ],
)
def test_visible(text: str, shown: str) -> None:
    assert visible(text) == shown


def release(description: str, chart: str = "web") -> dict[str, Any]:
    return {
        "name": "r1",
        "namespace": "ns",
        "version": 2,
        "info": {
            "status": "deployed",
            "description": description,
            "last_deployed": "2026-01-02T03:04:05Z",
        },
        "chart": {"metadata": {"name": chart, "version": "1.0.0", "appVersion": "1"}},
    }


def test_helm_tables_escape_what_a_record_says() -> None:
    rel = release(ESC + "[2A" + ESC + "[2K ok", chart="we" + ESC + "]52;c;aGk=\x07b")
    listed = helm_printers.list_table([helm_printers.list_element(rel)])
    history = helm_printers.history_table(helm_printers.history_items([rel]))
    status = helm_printers.status_table(rel)
    for text in (listed, history, status):
        assert ESC not in text and "\x07" not in text
    assert "we\\x1b]52;c;aGk=\\x07b-1.0.0" in listed
    assert "\\x1b[2A\\x1b[2K ok" in history
    assert "DESCRIPTION: \\x1b[2A\\x1b[2K ok\n" in status


def test_promotion_printers_escape_messages_and_names() -> None:
    promo = {
        "metadata": {"name": "p1", "creationTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {
            "release": "web",
            "namespace": "shop",
            "chart": {"name": "web", "version": "1.0.0", "identity": "sha256:0"},
            "through": ["dev"],
            "initiator": {"user": "oidc:m\u202eevil"},
            "justification": "why" + ESC + "[2J",
        },
        "status": {
            "phase": "Failed",
            "message": ESC + "[2A staging Succeeded",
            "steps": [{"environment": "dev", "phase": "Failed", "message": ESC + "]52;c;x\x07"}],
        },
    }
    for text in (
        promotion_printers.describe(promo),
        promotion_printers.list_table([promo], wide=True),
        promotion_printers.summary_table(promo),
    ):
        assert ESC not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[2A staging Succeeded" in promotion_printers.describe(promo)


def test_json_output_escapes_what_json_leaves_raw() -> None:
    from kubectl_scipian.helm.gofmt import go_json

    value = {"d": ESC + "[2A\x9b x\u202ey \u2028 é 中"}
    text = go_json(value)
    assert json.loads(text) == value
    assert not any(c in text for c in (ESC, "\x9b", "\u202e", "\u2028"))
    assert "é 中" in text


def test_backend_error_messages_are_escaped() -> None:
    reason, message = _reason({"reason": "Bad" + ESC, "message": "no " + ESC + "[31mred"})
    assert (reason, message) == ("Bad\\x1b", "no \\x1b[31mred")


# --- plugin: names and issuers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (names.check_release, "--post-renderer=/tmp/x"),
        (names.check_release, "-n"),
        (names.check_release, "a" * 54),
        (names.check_release, "Web"),
        (names.check_release, 3),
        (names.check_namespace, "kube-system --kubeconfig=/etc/x"),
        (names.check_namespace, "a.b"),
        (names.check_env, "../prod"),
        (names.check_env, "dev\n"),
        (names.check_revision, 0),
        (names.check_revision, True),
        (names.check_revision, "2"),
    ],
)
def test_names_from_the_backend_are_checked(check: Any, value: object) -> None:
    with pytest.raises(BackendError) as e:
        check(value)
    assert str(e.value).startswith("the Scipian backend sent a ")
    assert "\n" not in str(e.value)


def test_good_names_pass() -> None:
    assert names.check_release("web.v2") == "web.v2"
    assert names.check_namespace("shop") == "shop"
    assert names.check_env("dev") == "dev"
    assert names.check_revision(7) == 7


@pytest.mark.parametrize(
    "issuer",
    [
        "https://idp.example.com",
        "http://127.0.0.1:5556/dex",
        "http://127.3.4.5:80",
        "http://[::1]:8080",
        "http://localhost:9000/realms/x",
    ],
)
def test_issuers_accepted(issuer: str) -> None:
    assert issuer_problem(issuer) is None


@pytest.mark.parametrize(
    "issuer",
    [
        "http://idp.example.com",
        "http://10.0.0.1",
        "http://localhost.evil.com",
        "http://128.0.0.1",
        "ftp://idp.example.com",
        "file:///etc/passwd",
        "https://",
        "http://[::1",
    ],
)
def test_issuers_refused(issuer: str) -> None:
    assert issuer_problem(issuer) is not None

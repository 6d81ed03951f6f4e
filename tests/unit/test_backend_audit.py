"""Aggregated audit Events (scipian_backend/audit.py): what one Event says."""

from __future__ import annotations

from scipian_backend.audit.events import MAX_LISTED_IDS, Series, event_body, event_message
from scipian_backend.audit.records import Record


def issued(rid: str, at: str = "2026-11-24T10:00:00.123456Z") -> Record:
    return Record(
        event="issuance",
        request_id=rid,
        outcome="issued",
        environment="dev",
        user="oidc:alice@example.test",
        expiration_timestamp="2026-11-24T10:15:00Z",
        time=at,
    )


def test_one_issuance_reads_as_before() -> None:
    series = Series(issued("r1"), "uid-1")
    assert event_message(series) == (
        "issued credentials to oidc:alice@example.test until 2026-11-24T10:15:00Z (request r1)"
    )
    body = event_body(series, "uid-1")
    assert (body["count"], body["reason"], body["type"]) == (1, "CredentialsIssued", "Normal")
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-11-24T10:00:00Z"
    assert body["involvedObject"] == {
        "apiVersion": "scipian.io/v1alpha1",
        "kind": "Environment",
        "name": "dev",
        "uid": "uid-1",
    }


def test_many_issuances_are_counted_and_listed_up_to_a_limit() -> None:
    series = Series(issued("a" * 32), "uid-1")
    for i in range(1, 25):
        series.add(issued(f"{i:032d}", at="2026-11-24T10:00:01.000001Z"))
    message = event_message(series)
    assert message.startswith(
        "issued credentials to oidc:alice@example.test 25 times, the last until "
        "2026-11-24T10:15:00Z (requests " + "a" * 32 + ", "
    )
    assert message.endswith(f" and {25 - MAX_LISTED_IDS} more)")
    assert len(message) <= 1024
    body = event_body(series, "uid-1")
    assert body["count"] == 25
    assert (body["firstTimestamp"], body["lastTimestamp"]) == (
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:01Z",
    )


def test_denials() -> None:
    rec = Record(
        event="denial", request_id="r9", outcome="forbidden", environment="dev", user="oidc:b"
    )
    series = Series(rec, None)
    assert event_message(series) == "denied oidc:b: forbidden (request r9)"
    series.add(rec)
    assert event_message(series) == "denied oidc:b 2 times: forbidden (requests r9, r9)"
    assert event_body(series, "u")["type"] == "Warning"

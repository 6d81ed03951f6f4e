"""The dashboard's access request pages, pure parts (ui/requests.py): rows and who gets
which button, the time left, the form's body, and the templates rendered with
StrictUndefined (every name they use exists; what the requester wrote is escaped)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from scipian_backend.errors import BadRequest
from scipian_backend.identity.authn import Identity
from scipian_backend.ui.render import Renderer
from scipian_backend.ui.requests import durations, form_body, row, seconds_left, span
from scipian_backend.ui.session import Session

BOB = "oidc:bob@example.test"
DAVE = "oidc:dave@example.test"
NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=timezone.utc)


def request(phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "prod-deploy-ab12c", "creationTimestamp": "2026-12-07T09:58:00Z"},
        "spec": {
            "environment": "prod",
            "level": "deploy",
            "namespaces": ["shop"],
            "durationSeconds": 1800,
            "justification": "<script>alert(1)</script> INC-7",
            "requester": {"user": BOB, "groups": ["team-b"]},
        },
        "status": {"phase": phase, "approvalsRequired": 1, "approvals": [], **status},
    }


def test_pending_buttons_for_an_approver_the_requester_and_others() -> None:
    pending = request("Pending", expiresAt="2026-12-08T09:58:00Z")
    dave = row(pending, DAVE, True, NOW)
    assert (dave["can_approve"], dave["can_deny"], dave["can_revoke"], dave["can_cancel"]) == (
        True,
        True,
        True,
        False,
    )
    # The requester never decides on their own request, even when allowed to approve there.
    bob = row(pending, BOB, True, NOW)
    assert (bob["can_approve"], bob["can_deny"], bob["can_revoke"], bob["can_cancel"]) == (
        False,
        False,
        False,
        True,
    )
    alice = row(pending, "oidc:alice@example.test", False, NOW)
    assert not any(alice[k] for k in ("can_approve", "can_deny", "can_revoke", "can_cancel"))


def test_an_approval_already_given_is_not_offered_again() -> None:
    given = {"user": DAVE, "justification": "ok", "time": "2026-12-07T09:59:00Z"}
    pending = request("Pending", approvalsRequired=2, approvals=[given])
    dave = row(pending, DAVE, True, NOW)
    assert not dave["can_approve"] and dave["can_deny"] and dave["can_revoke"]
    assert dave["approvals"] == [given | {}]


def test_approved_counts_down_to_the_window_end_and_may_be_revoked() -> None:
    approved = request(
        "Approved", approvedAt="2026-12-07T09:59:00Z", expiresAt="2026-12-07T10:29:00Z"
    )
    dave = row(approved, DAVE, True, NOW)
    assert dave["remaining"] == 29 * 60 and dave["remaining_text"] == "29 min"
    assert dave["can_revoke"] and not dave["can_approve"] and not dave["can_deny"]
    assert row(approved, BOB, False, NOW)["can_cancel"]


@pytest.mark.parametrize("phase", ["Denied", "Expired", "Ended", "Cancelled", "Revoked"])
def test_finished_requests_offer_nothing_and_count_nothing(phase: str) -> None:
    done = request(phase, expiresAt="2026-12-07T10:29:00Z", decision={"user": DAVE})
    for who in (DAVE, BOB):
        r = row(done, who, True, NOW)
        assert r["remaining"] is None and r["remaining_text"] == ""
        assert not any(r[k] for k in ("can_approve", "can_deny", "can_revoke", "can_cancel"))


def test_seconds_left_never_negative_nor_from_a_bad_stamp() -> None:
    assert seconds_left({"phase": "Approved", "expiresAt": "2026-12-07T09:00:00Z"}, NOW) == 0
    assert seconds_left({"phase": "Approved", "expiresAt": "soon"}, NOW) is None
    assert seconds_left({"phase": "Approved"}, NOW) is None


def test_span_reads_as_people_say_it() -> None:
    assert [span(s) for s in (0, 59, 60, 61, 1800, 3600, 3661, 7200, 172800, 180000)] == [
        "0 s",
        "59 s",
        "1 min",
        "1 min 01 s",
        "30 min",
        "1 h",
        "1 h 01 min",
        "2 h",
        "2 d",
        "2 d 2 h",
    ]


def test_durations_stop_at_the_environments_maximum() -> None:
    assert [d for d, _ in durations(14400)] == [900, 1800, 3600, 7200, 14400]
    assert durations(600) == [(600, "10 min")]


def test_form_body_is_the_apis_create_body() -> None:
    assert form_body("deploy", "1800", "INC-7", "shop, web shop") == {
        "level": "deploy",
        "durationSeconds": 1800,
        "justification": "INC-7",
        "namespaces": ["shop", "web"],
    }
    assert form_body("read", "3600", "look", "  ") == {
        "level": "read",
        "durationSeconds": 3600,
        "justification": "look",
    }
    for bad in (
        ("admin", "60", "x", ""),
        ("read", "1h", "x", ""),
        ("read", "99999999", "x", ""),
        ("read", "60", "x", "shop"),
        ("deploy", "60", "x", " ".join(f"n{i}" for i in range(65))),
    ):
        with pytest.raises(BadRequest):
            form_body(*bad)


def test_request_pages_render_escaped_with_the_forms_csrf() -> None:
    session = Session(Identity(DAVE, ("release-managers",), "d"), 2e9, "tok-123")
    pending = row(request("Pending", expiresAt="2026-12-08T09:58:00Z"), DAVE, True, NOW)
    page = Renderer().html("request.html", {"request": pending, "done": ""}, session)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    for verb in ("approve", "deny", "revoke"):
        assert f'action="/ui/requests/prod-deploy-ab12c/{verb}"' in page
    assert 'action="/ui/requests/prod-deploy-ab12c/cancel"' not in page
    assert page.count('name="csrf" value="tok-123"') == 4  # three forms and the logout
    assert 'data-remaining="86280"' in page
    listing = Renderer().html(
        "requests.html",
        {
            "mine": [],
            "others": [pending],
            "askable": [{"environment": "prod", "levels": ["deploy"]}],
            "durations": durations(14400),
        },
        session,
    )
    assert 'data-request="prod-deploy-ab12c"' in listing and 'id="ask"' in listing
    ask = {"environment": "prod", "levels": ["deploy"], "namespaces": ["shop"]}
    env_page = Renderer().html(
        "environment.html",
        {"environment": "prod", "releases": [], "ask": {**ask, "durations": durations(1800)}},
        session,
    )
    assert 'name="environment" value="prod"' in env_page and 'value="1800"' in env_page
    assert 'value="3600"' not in env_page  # beyond this environment's maximum


def test_the_activity_page_lists_requests() -> None:
    session = Session(Identity(DAVE, (), "d"), 2e9, "tok")
    approved = request(
        "Approved", approvedAt="2026-12-07T09:59:00Z", expiresAt="2026-12-07T10:29:00Z"
    )
    context = {"events": [], "environments": ["prod"], "break_glass": [], "acknowledged": ""}
    page = Renderer().html(
        "activity.html",
        {**context, "page": "/ui/activity", "requests": [row(approved, DAVE, True, NOW)]},
        session,
    )
    assert 'id="activity-requests"' in page and ">29 min</span>" in page

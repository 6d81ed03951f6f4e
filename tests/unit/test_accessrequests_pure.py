"""The AccessRequest's pure parts (accessrequests/records.py, bodies.py): names, the create
and decision bodies, transitions, visibility, the caps' counting, the Environment's
maxAccessSeconds."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from scipian_backend.accessrequests import bodies
from scipian_backend.accessrequests import records as r
from scipian_backend.accessrequests.schema import NAME_MAX, NAME_PATTERN
from scipian_backend.environments.store import parse_environment
from scipian_backend.errors import BadRequest
from scipian_backend.identity.names import USER_HASH_LABEL, user_hash

NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=timezone.utc)
BOB = "oidc:bob@example.test"
DAVE = "oidc:dave@example.test"
CAROL = "oidc:carol@example.test"


def request(level: str = "deploy", required: int = 1, user: str = BOB) -> dict[str, Any]:
    obj = r.new_request("prod-deploy-abcde", "prod", level, ["shop"], 1800, "INC-1", user, ["g"])
    obj["metadata"]["creationTimestamp"] = r.now_stamp(NOW)
    obj["status"] = r.initial_status(required, NOW, 86400)
    return obj


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["prod", "a" * 63, "a" * 39 + "-" + "b" * 23, "x"])
@pytest.mark.parametrize("level", ["read", "deploy"])
def test_names_fit_a_label_value(env: str, level: str) -> None:
    name = r.new_name(env, level)
    assert len(name) <= NAME_MAX == 53
    assert re.fullmatch(NAME_PATTERN, name)
    assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", name)  # label value
    assert name.startswith(env[:40].rstrip("-") + f"-{level}-")
    assert r.new_name(env, level) != name  # random suffix


def test_new_request_labels_finalizer_and_spec() -> None:
    obj = r.new_request("dev-read-aaaaa", "dev", "read", ["ignored"], 60, "why", BOB, ["g1"])
    meta = obj["metadata"]
    assert meta["labels"] == {
        "scipian.io/environment": "dev",
        "scipian.io/level": "read",
        USER_HASH_LABEL: user_hash(BOB),
    }
    assert meta["finalizers"] == ["scipian.io/access-request"]
    assert "namespaces" not in obj["spec"]  # read requests carry none
    assert obj["spec"]["requester"] == {"user": BOB, "groups": ["g1"]}
    deploy = r.new_request("dev-deploy-aaaaa", "dev", "deploy", ["b", "a", "b"], 60, "w", BOB, [])
    assert deploy["spec"]["namespaces"] == ["a", "b"]


def test_initial_status_needs_at_least_one_approval_and_expires_pending() -> None:
    for required, expected in ((0, 1), (1, 1), (3, 3)):
        status = r.initial_status(required, NOW, 86400)
        assert status["approvalsRequired"] == expected
    status = r.initial_status(0, NOW, 3600)
    assert status["phase"] == "Pending"
    assert status["expiresAt"] == "2026-12-07T11:00:00Z"
    assert status["approvals"] == []


# --- bodies -------------------------------------------------------------------------------


def test_create_body() -> None:
    got = bodies.create_request(
        {
            "level": "deploy",
            "durationSeconds": 3600.0,
            "justification": "INC-7",
            "namespaces": ["b", "a"],
        }
    )
    assert got == bodies.CreateRequest("deploy", 3600, "INC-7", ("a", "b"))
    read = bodies.create_request({"level": "read", "durationSeconds": 60, "justification": "x"})
    assert read.namespaces == ()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"level": "admin", "durationSeconds": 60, "justification": "x"}, "level"),
        ({"level": "read", "durationSeconds": 59, "justification": "x"}, "between 60"),
        ({"level": "read", "durationSeconds": 604801, "justification": "x"}, "between 60"),
        ({"level": "read", "durationSeconds": True, "justification": "x"}, "integer"),
        ({"level": "read", "durationSeconds": "60", "justification": "x"}, "integer"),
        ({"level": "read", "durationSeconds": 60}, "justification"),
        ({"level": "read", "durationSeconds": 60, "justification": " "}, "justification"),
        ({"level": "read", "durationSeconds": 60, "justification": "a\nb"}, "one line"),
        ({"level": "read", "durationSeconds": 60, "justification": "x" * 513}, "longer"),
        (
            {"level": "read", "durationSeconds": 60, "justification": "x", "namespaces": ["a"]},
            "deploy requests only",
        ),
        (
            {"level": "deploy", "durationSeconds": 60, "justification": "x", "namespaces": []},
            "1 to 64",
        ),
        (
            {"level": "deploy", "durationSeconds": 60, "justification": "x", "namespaces": ["A"]},
            "DNS-1123",
        ),
        (
            {
                "level": "deploy",
                "durationSeconds": 60,
                "justification": "x",
                "namespaces": ["a", "a"],
            },
            "twice",
        ),
        (
            {
                "level": "deploy",
                "durationSeconds": 60,
                "justification": "x",
                "namespaces": ["a"] * 65,
            },
            "1 to 64",
        ),
        ({"level": "read", "durationSeconds": 60, "justification": "x", "extra": 1}, "unknown"),
    ],
)
def test_create_body_refusals(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as e:
        bodies.create_request(doc)
    assert message in e.value.message


def test_decision_and_cancel_bodies() -> None:
    assert bodies.decision_request({"justification": "ok"}) == "ok"
    with pytest.raises(BadRequest):
        bodies.decision_request({})
    with pytest.raises(BadRequest):
        bodies.decision_request({"justification": "ok", "diffDigest": "x"})
    assert bodies.cancel_request({}) == ""
    assert bodies.cancel_request({"justification": "done"}) == "done"
    with pytest.raises(BadRequest):
        bodies.cancel_request({"justification": None})


# --- transitions --------------------------------------------------------------------------


def test_one_approval_opens_the_window() -> None:
    obj = request()
    later = NOW + timedelta(minutes=5)
    status = r.approve(obj, DAVE, "looks right", later)
    assert status["phase"] == "Approved"
    assert status["approvedAt"] == r.now_stamp(later)
    assert status["expiresAt"] == r.now_stamp(later + timedelta(seconds=1800))
    assert status["approvals"] == [
        {"user": DAVE, "justification": "looks right", "time": r.now_stamp(later)}
    ]
    after = dict(obj, status=status)
    assert r.window_end(after) == later + timedelta(seconds=1800)
    assert r.change_of(obj, after) == r.Change("Pending", "Approved", "approved")


def test_two_approvals_needed_count_each_approver_once() -> None:
    obj = request(required=2)
    first = dict(obj, status=r.approve(obj, DAVE, "one", NOW))
    assert r.phase(first) == "Pending"
    assert r.change_of(obj, first) == r.Change("Pending", "Pending", "approval")
    with pytest.raises(r.Refused) as again:
        r.approve(first, DAVE, "twice", NOW)
    assert (again.value.kind, again.value.message) == (
        "conflict",
        f"{DAVE} already approved prod-deploy-abcde",
    )
    second = dict(first, status=r.approve(first, CAROL, "two", NOW))
    assert r.phase(second) == "Approved"
    assert [a["user"] for a in r.approvals(second)] == [DAVE, CAROL]


def test_never_the_requester() -> None:
    obj = request()
    for act in (r.approve, r.deny, r.revoke):
        with pytest.raises(r.Refused) as e:
            act(obj, BOB, "mine", NOW)
        assert e.value.kind == "forbidden"
    with pytest.raises(r.Refused) as e:
        r.cancel(obj, DAVE, "not mine", NOW)
    assert e.value.kind == "forbidden"


def test_one_denial_ends_it() -> None:
    obj = request(required=3)
    approved_once = dict(obj, status=r.approve(obj, CAROL, "fine", NOW))
    denied = dict(approved_once, status=r.deny(approved_once, DAVE, "no", NOW))
    assert r.phase(denied) == "Denied" and r.finished(denied)
    assert r.status_of(denied)["decision"] == {
        "user": DAVE,
        "justification": "no",
        "time": r.now_stamp(NOW),
    }
    for act in (r.approve, r.deny):
        with pytest.raises(r.Refused) as e:
            act(denied, "oidc:eve@example.test", "late", NOW)
        assert e.value.kind == "conflict"


@pytest.mark.parametrize("act", [r.revoke, r.cancel])
def test_revoke_and_cancel_from_pending_or_approved_only(act: Any) -> None:
    who = BOB if act is r.cancel else DAVE
    new = "Cancelled" if act is r.cancel else "Revoked"
    pending = request()
    assert act(pending, who, "stop", NOW)["phase"] == new
    approved = dict(pending, status=r.approve(pending, CAROL, "ok", NOW))
    ended = dict(approved, status=act(approved, who, "stop", NOW))
    assert r.phase(ended) == new
    assert r.status_of(ended)["endedAt"] == r.now_stamp(NOW)
    assert r.window_end(ended) is None
    with pytest.raises(r.Refused) as e:
        act(ended, who, "again", NOW)
    assert e.value.kind == "conflict"


def test_change_of_an_unchanged_object_is_none() -> None:
    obj = request()
    assert r.change_of(obj, obj) is None
    assert r.change_of({}, obj) == r.Change("", "Pending", "pending")


# --- visibility and caps ------------------------------------------------------------------


def test_visibility() -> None:
    obj = request()
    assert r.visible(obj, BOB, set())
    assert r.visible(obj, DAVE, {"prod"})
    assert not r.visible(obj, DAVE, {"dev", "staging"})
    assert not r.visible(obj, "oidc:mallory@example.test", set())


def test_caps_count_pending_per_env_per_user_and_creations_per_hour() -> None:
    def mine(env: str, phase: str, minutes_ago: int, user: str = BOB) -> dict[str, Any]:
        obj = r.new_request(r.new_name(env, "read"), env, "read", [], 60, "x", user, [])
        obj["metadata"]["creationTimestamp"] = r.now_stamp(NOW - timedelta(minutes=minutes_ago))
        obj["status"] = {"phase": phase}
        return obj

    items = [
        mine("prod", "Pending", 5),
        mine("prod", "Pending", 70),
        mine("prod", "Denied", 10),
        mine("dev", "Pending", 20),
        mine("prod", "Pending", 1, user=DAVE),
    ]
    c = r.counts(items, BOB, "prod", NOW)
    assert (c.pending_here, c.pending, len(c.recent)) == (2, 3, 3)
    assert r.caps_problem(c, BOB, "prod", 3, 10, 20, NOW) is None
    here = r.caps_problem(c, BOB, "prod", 2, 10, 20, NOW)
    assert here is not None and "2 pending access requests on prod" in here[0]
    per_user = r.caps_problem(c, BOB, "prod", 3, 3, 20, NOW)
    assert per_user is not None and "3 pending access requests (at most 3)" in per_user[0]
    hourly = r.caps_problem(c, BOB, "prod", 3, 10, 3, NOW)
    assert hourly is not None and "3 access requests in the last hour" in hourly[0]
    # the oldest of the three counted (20 minutes ago) leaves the hour in 40 minutes
    assert hourly[1] == 40 * 60 + 1


# --- the Environment's maxAccessSeconds ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 14400), (3600, 3600), (10, 60), (10**9, 604800), ("3600", 14400), (True, 14400)],
)
def test_max_access_seconds(raw: object, expected: int) -> None:
    spec: dict[str, Any] = {"credentialsSecretRef": {"namespace": "n", "name": "s"}}
    if raw is not None:
        spec["maxAccessSeconds"] = raw
    env = parse_environment({"metadata": {"name": "dev"}, "spec": spec})
    assert env.max_access_seconds == expected


def test_a_pending_request_past_its_deadline_is_decided_no_more() -> None:
    obj = request()  # pending until NOW + 86400 s
    late = NOW + timedelta(seconds=86400)
    for act in (r.approve, r.deny):
        with pytest.raises(r.Refused) as e:
            act(obj, DAVE, "too late", late)
        assert (e.value.kind, e.value.message) == (
            "conflict",
            "access request prod-deploy-abcde expired at 2026-12-08T10:00:00Z",
        )
    assert r.approve(obj, DAVE, "in time", late - timedelta(seconds=1))["phase"] == "Approved"


def test_a_request_being_deleted_is_changed_no_more() -> None:
    obj = request()
    obj["metadata"]["deletionTimestamp"] = r.now_stamp(NOW)
    for act, who in ((r.approve, DAVE), (r.deny, DAVE), (r.revoke, DAVE), (r.cancel, BOB)):
        with pytest.raises(r.Refused) as e:
            act(obj, who, "x", NOW)
        assert e.value.message == "access request prod-deploy-abcde is being deleted"


def test_user_selector_names_the_hash_label() -> None:
    assert r.user_selector(BOB) == f"{USER_HASH_LABEL}={user_hash(BOB)}"


@pytest.mark.parametrize(
    ("seconds", "ok"), [(59, False), (60, True), (604800, True), (604801, False)]
)
def test_register_bounds_max_access_seconds(seconds: int, ok: bool) -> None:
    from scipian_backend.environments.admin import Registration
    from scipian_backend.errors import ConfigError

    reg = Registration("dev", "", "view", 900, "scipian-system", max_access_seconds=seconds)
    if ok:
        reg.validate()
    else:
        with pytest.raises(ConfigError, match="--max-access-seconds must be between 60 and 604800"):
            reg.validate()


def test_update_keeps_or_changes_max_access_seconds() -> None:
    from scipian_backend.environments.admin import updated

    spec: dict[str, Any] = {
        "credentialsSecretRef": {"namespace": "scipian-system", "name": "s"},
        "maxAccessSeconds": 3600,
    }
    env = parse_environment({"metadata": {"name": "dev"}, "spec": spec})
    assert updated(env, {}).max_access_seconds == 3600
    assert updated(env, {"max_access_seconds": 600}).max_access_seconds == 600

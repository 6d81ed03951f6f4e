"""Credentials under access requests, the pure parts (change.md §9): which request grants,
token lifetimes, namespaces, the identities' labels, the worker's decisions, the 403's
`requestable`, and `register`'s refusal of plugin command names."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubectl_scipian.commands import PER_ENV, READ_VERBS, TOP
from scipian_backend.accessrequests import grants, worker
from scipian_backend.accessrequests.sessions import request_key
from scipian_backend.config import MIN_TTL
from scipian_backend.environments.admin import PLUGIN_COMMANDS, check_not_a_command
from scipian_backend.errors import ConfigError, Forbidden
from scipian_backend.http.error_bodies import api_error_response
from scipian_backend.identity import names

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)
BOB = "oidc:bob@example.test"


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def request(
    name: str = "prod-deploy-abcde",
    env: str = "prod",
    level: str = "deploy",
    user: str = BOB,
    phase: str = "Approved",
    ends: datetime | None = NOW + timedelta(minutes=30),
    namespaces: list[str] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if ends is not None:
        status["expiresAt"] = stamp(ends)
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", **meta},
        "spec": {
            "environment": env,
            "level": level,
            "namespaces": namespaces or [],
            "requester": {"user": user, "groups": ["team-b"]},
            "justification": "incident 42",
            "durationSeconds": 1800,
        },
        "status": status,
    }


# --- grants --------------------------------------------------------------------------------


def test_an_approved_open_request_of_the_user_grants() -> None:
    g = grants.choose([request(namespaces=["shop"])], BOB, "prod", "deploy", NOW)
    assert g == grants.Granted("prod-deploy-abcde", NOW + timedelta(minutes=30), ("shop",))


@pytest.mark.parametrize(
    "obj",
    [
        request(phase="Pending"),
        request(phase="Denied"),
        request(phase="Revoked"),
        request(phase="Ended"),
        request(phase="Cancelled"),
        request(ends=NOW),  # the window ends at NOW: closed
        request(ends=NOW - timedelta(seconds=1)),
        request(ends=None),
        request(user="oidc:mallory@example.test"),  # another user (a hash collision)
        request(level="read"),
        request(env="staging"),
        request(deletionTimestamp=stamp(NOW)),  # being deleted: revoked
    ],
)
def test_what_grants_nothing(obj: dict[str, Any]) -> None:
    assert grants.choose([obj], BOB, "prod", "deploy", NOW) is None


def test_the_request_ending_last_is_chosen() -> None:
    early = request("a", ends=NOW + timedelta(minutes=5))
    late = request("b", ends=NOW + timedelta(hours=1))
    assert grants.choose([late, early], BOB, "prod", "deploy", NOW).name == "b"  # type: ignore[union-attr]
    assert grants.choose([early, late], BOB, "prod", "deploy", NOW).name == "b"  # type: ignore[union-attr]


def test_malformed_objects_grant_nothing() -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"metadata": "x", "spec": {}, "status": {}},
        {**request(), "spec": {**request()["spec"], "requester": "bob"}},
        {**request(), "spec": {**request()["spec"], "namespaces": "shop"}},
        {**request(), "status": {"phase": "Approved", "expiresAt": "tomorrow"}},
    ]
    assert grants.choose(bad, BOB, "prod", "deploy", NOW) is None


def test_open_environments() -> None:
    items = [
        request("a", env="staging", level="read"),
        request("b", env="dev", level="read", phase="Pending"),
        request("c", env="prod", level="read", ends=NOW - timedelta(seconds=1)),
        request("d", env="prod", level="deploy"),
    ]
    assert grants.open_environments(items, BOB, "read", NOW) == {"staging"}


def test_selector_names_the_user_by_hash() -> None:
    sel = grants.selector(BOB, "prod", "deploy")
    assert f"scipian.io/user-hash={names.user_hash(BOB)}" in sel.split(",")
    assert "scipian.io/environment=prod" in sel.split(",")
    assert "scipian.io/level=deploy" in sel.split(",")
    assert "scipian.io/environment" not in grants.selector(BOB, None, "read")


def test_token_ttl_is_the_window_left_floored() -> None:
    end = NOW + timedelta(minutes=30)
    assert grants.token_ttl(3600, end, NOW, MIN_TTL) == 1800
    assert grants.token_ttl(900, end, NOW, MIN_TTL) == 900
    assert grants.token_ttl(3600, NOW + timedelta(seconds=61), NOW, MIN_TTL) == MIN_TTL
    assert grants.token_ttl(3600, end, NOW, 2000) == 2000


def test_deploy_namespaces_are_the_intersection() -> None:
    env = ("shop", "web", "jobs")
    assert grants.deploy_namespaces(("jobs", "shop"), env) == ("shop", "jobs")
    assert grants.deploy_namespaces((), env) == env
    assert grants.deploy_namespaces(("kube-system",), env) == ()


# --- identities ----------------------------------------------------------------------------


def test_a_request_identity_is_its_own_and_labelled() -> None:
    key = request_key(request())
    assert key is not None
    assert key.source == "request:prod-deploy-abcde"
    standing = names.IdentityKey("prod", "deploy", BOB)
    assert key.account != standing.account
    labels = key.labels()
    assert labels[names.ACCESS_REQUEST_LABEL] == "prod-deploy-abcde"
    assert names.ACCESS_REQUEST_LABEL not in standing.labels()
    sel = names.access_request_selector("prod-deploy-abcde")
    assert all(labels.get(k) == v for k, v in (p.split("=") for p in sel.split(",")))


def test_request_key_refuses_malformed_objects() -> None:
    assert request_key({}) is None
    assert request_key(request(level="admin")) is None
    assert request_key({**request(), "spec": {**request()["spec"], "requester": {}}}) is None


# --- the worker's decisions ----------------------------------------------------------------


class NoSessions:
    def revoke(self, obj: dict[str, Any]) -> int:
        return 0


def kind() -> worker.AccessRequestWorker:
    nothing: Any = None  # wants() never calls the backend, the store or the cluster
    return worker.AccessRequestWorker(nothing, nothing, NoSessions(), nothing)


def test_worker_wants_open_requests_for_their_clock() -> None:
    k = kind()
    assert k.wants(request(phase="Pending"), NOW)
    assert k.wants(request(phase="Approved"), NOW)
    assert not k.wants(request(phase="Approved", ends=None), NOW)


def test_worker_wants_recent_terminal_requests_once_then_not_old_ones() -> None:
    k = kind()
    revoked = request(phase="Revoked")
    revoked["status"]["lastTransition"] = stamp(NOW - timedelta(minutes=1))
    assert k.wants(revoked, NOW)
    old = request(phase="Ended")
    old["status"]["lastTransition"] = stamp(NOW - timedelta(days=2))
    assert not k.wants(old, NOW)


def test_worker_wants_a_deleted_request_with_its_finalizer() -> None:
    k = kind()
    gone = request(deletionTimestamp=stamp(NOW), finalizers=[worker.FINALIZER])
    assert k.wants(gone, NOW)
    assert not k.wants(request(deletionTimestamp=stamp(NOW), finalizers=["other"]), NOW)


def test_closed_status() -> None:
    pending = request(phase="Pending", ends=NOW)
    expired = worker.closed(pending, NOW, worker.EXPIRED)
    assert expired is not None and expired["phase"] == "Expired"
    assert expired["endedAt"] == stamp(NOW) == expired["lastTransition"]
    assert worker.closed(pending, NOW - timedelta(seconds=1), worker.EXPIRED) is None
    assert worker.closed(pending, NOW, worker.ENDED) is None  # not Approved
    approved = request(ends=NOW - timedelta(seconds=2))
    ended = worker.closed(approved, NOW, worker.ENDED)
    assert ended is not None and ended["phase"] == "Ended"
    assert worker.closed(request(phase="Revoked", ends=NOW), NOW, worker.ENDED) is None


# --- the 403's hint ------------------------------------------------------------------------


def test_requestable_joins_the_error_body() -> None:
    refused = Forbidden("bob may not deploy to environment prod")
    plain = json.loads(bytes(api_error_response(refused).body))
    assert plain == {"reason": "Forbidden", "message": "bob may not deploy to environment prod"}
    refused.fields = {"requestable": "deploy"}
    body = json.loads(bytes(api_error_response(refused).body))
    assert body["requestable"] == "deploy" and body["reason"] == "Forbidden"


# --- register refuses plugin command names -------------------------------------------------


def test_plugin_commands_are_the_plugins() -> None:
    assert set(TOP) | set(PER_ENV) | set(READ_VERBS) == PLUGIN_COMMANDS


@pytest.mark.parametrize("name", sorted(PLUGIN_COMMANDS))
def test_register_refuses_command_names(name: str) -> None:
    with pytest.raises(ConfigError, match="kubectl scipian command"):
        check_not_a_command(name)


def test_register_takes_other_names() -> None:
    check_not_a_command("prod")
    check_not_a_command("getter")


# --- the worker's turns, with its collaborators as plain recorders -------------------------


class Recorded:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.written: list[dict[str, Any]] = []
        self.current: dict[str, Any] = {}

    def revoke(self, obj: dict[str, Any]) -> int:
        self.calls.append("revoke")
        return 1

    def update_status(self, name: str, transition: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        self.calls.append("status")
        before = self.current
        status = transition(before)
        if status is None:
            return before, before
        after = {**before, "status": status}
        self.written.append(status)
        return before, after


class Quiet:
    """The backend's auditor and notifier, counting what the worker records."""

    def __init__(self) -> None:
        self.auditor = self
        self.lines = 0
        self.events = 0
        self.notified: list[str] = []

    def line(self, rec: Any) -> None:
        self.lines += 1

    def event(self, body: Any) -> None:
        self.events += 1

    def notify(self, kind: str, **fields: Any) -> None:
        self.notified.append(kind)


def turning(
    obj: dict[str, Any], at: datetime
) -> tuple[worker.AccessRequestWorker, Recorded, Quiet]:
    rec, backend = Recorded(), Quiet()
    rec.current = obj
    nothing: Any = None
    k = worker.AccessRequestWorker(
        backend,  # type: ignore[arg-type]
        rec,  # type: ignore[arg-type]
        rec,
        nothing,
        now=lambda: at,
    )
    return k, rec, backend


def test_an_open_window_waits_for_its_end() -> None:
    obj = request(ends=NOW + timedelta(seconds=42))
    k, rec, _ = turning(obj, NOW)
    assert k.turn(obj, nothing_claim()) == 42.0
    assert rec.calls == []


def test_the_window_end_deletes_sessions_before_ending() -> None:
    obj = request(ends=NOW)
    k, rec, backend = turning(obj, NOW + timedelta(seconds=1))
    assert k.turn(obj, nothing_claim()) is None
    assert rec.calls == ["revoke", "status"]
    assert rec.written[0]["phase"] == "Ended"
    assert (backend.lines, backend.events, backend.notified) == (1, 1, ["request.ended"])
    assert not k.wants({**obj, "status": rec.written[0]}, NOW + timedelta(seconds=2))


def test_a_pending_request_expires_without_touching_sessions() -> None:
    obj = request(phase="Pending", ends=NOW)
    k, rec, backend = turning(obj, NOW)
    assert k.turn(obj, nothing_claim()) is None
    assert rec.calls == ["status"]
    assert rec.written[0]["phase"] == "Expired"
    assert backend.notified == ["request.expired"]


def test_a_revoked_request_changed_meanwhile_is_not_ended() -> None:
    obj = request(ends=NOW)
    k, rec, backend = turning(obj, NOW + timedelta(seconds=1))
    rec.current = request(phase="Revoked", ends=NOW)  # the service wrote first
    k.turn(obj, nothing_claim())
    assert rec.written == [] and backend.lines == 0


def nothing_claim() -> Any:
    return None

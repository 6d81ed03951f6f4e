"""What a cleanup pass removes, given the objects and a clock (cleanup/rules.py, pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from scipian_backend.__main__ import main
from scipian_backend.cleanup import rules
from scipian_backend.cleanup.run import server_of
from scipian_backend.cleanup.settings import CleanupSettings
from scipian_backend.errors import ConfigError
from scipian_backend.identity import names
from scipian_backend.worker.settings import WorkerSettings

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_session_is_expired_only_past_its_annotation() -> None:
    def expires(delta: timedelta) -> dict[str, str]:
        return {names.EXPIRES_ANNOTATION: stamp(NOW + delta)}

    assert rules.session_expired(expires(timedelta(seconds=-1)), NOW)
    assert not rules.session_expired(expires(timedelta(seconds=1)), NOW)
    assert not rules.session_expired(expires(timedelta(0)), NOW)
    # No readable expiry: never judged expired (the contract: only expired ones go).
    assert not rules.session_expired({}, NOW)
    assert not rules.session_expired(None, NOW)
    assert not rules.session_expired({names.EXPIRES_ANNOTATION: "tomorrow"}, NOW)


def test_an_identity_is_idle_after_more_than_the_idle_days() -> None:
    def day(days_ago: int) -> dict[str, str]:
        return {
            names.LAST_ISSUED_DAY_ANNOTATION: (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%d")
        }

    assert not rules.identity_idle(day(0), None, NOW, 30)
    assert not rules.identity_idle(day(30), None, NOW, 30)
    assert rules.identity_idle(day(31), None, NOW, 30)
    assert rules.identity_idle(day(2), None, NOW, 1)
    # The clock moved ahead (the CLI's --advance-seconds) makes today's identity idle.
    assert rules.identity_idle(day(0), None, NOW + timedelta(days=31), 30)


def test_without_the_day_the_creation_day_counts() -> None:
    old = stamp(NOW - timedelta(days=40))
    assert rules.identity_idle({}, old, NOW, 30)
    assert not rules.identity_idle({}, stamp(NOW - timedelta(days=3)), NOW, 30)
    assert not rules.identity_idle({}, None, NOW, 30)  # nothing to judge by: kept
    # An unreadable day falls back to the creation time.
    assert not rules.identity_idle({names.LAST_ISSUED_DAY_ANNOTATION: "x"}, stamp(NOW), NOW, 30)


def test_identities_of_running_promotions_and_open_requests_are_protected() -> None:
    busy = frozenset({"web-abcde"})
    open_ = frozenset({"dev-read-x1y2z"})
    assert rules.protected("promotion:web-abcde:dev", busy, open_)
    assert not rules.protected("promotion:web-zzzzz:dev", busy, open_)
    assert rules.protected(names.request_source("dev-read-x1y2z"), busy, open_)
    assert not rules.protected(names.request_source("dev-read-other"), busy, open_)
    assert not rules.protected(names.STANDING, busy, open_)


def promotion(name: str, phase: str, last: datetime) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase, "lastTransition": stamp(last)}}


def request(name: str, phase: str, **status: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase, **status}}


def test_busy_promotions_are_the_unfinished_ones() -> None:
    old = NOW - timedelta(days=400)
    found = rules.busy_promotions(
        [
            promotion("a", "Running", old),
            promotion("b", "AwaitingApproval", old),
            promotion("c", "Succeeded", NOW),
            promotion("d", "Failed", NOW),
            {"metadata": {"name": "e"}},  # no status yet: its creation is under way
        ]
    )
    assert found == {"a", "b", "e"}


def test_open_requests_are_approved_ones_in_their_window() -> None:
    found = rules.open_requests(
        [
            request("a", "Approved", expiresAt=stamp(NOW + timedelta(minutes=5))),
            request("b", "Approved", expiresAt=stamp(NOW - timedelta(minutes=5))),
            request("c", "Pending", expiresAt=stamp(NOW + timedelta(minutes=5))),
            request("d", "Ended", expiresAt=stamp(NOW + timedelta(minutes=5))),
        ],
        NOW,
    )
    assert found == {"a"}


def test_records_expire_only_when_finished_longer_ago_than_the_retention() -> None:
    old = NOW - timedelta(days=91)
    assert rules.expired_record(
        rules.promotion_finished_at(promotion("a", "Succeeded", old)), NOW, 90
    )
    assert rules.expired_record(
        rules.promotion_finished_at(promotion("a", "Cancelled", old)), NOW, 90
    )
    recent = NOW - timedelta(days=89)
    assert not rules.expired_record(
        rules.promotion_finished_at(promotion("a", "Failed", recent)), NOW, 90
    )
    # Unfinished: never, however old.
    assert not rules.expired_record(
        rules.promotion_finished_at(promotion("a", "Running", old)), NOW, 90
    )
    ended = request("r", "Ended", lastTransition=stamp(old))
    assert rules.expired_record(rules.request_finished_at(ended), NOW, 90)
    by_ended_at = request("r", "Revoked", endedAt=stamp(old))
    assert rules.expired_record(rules.request_finished_at(by_ended_at), NOW, 90)
    approved = request("r", "Approved", lastTransition=stamp(old))
    assert not rules.expired_record(rules.request_finished_at(approved), NOW, 90)
    pending = request("r", "Pending", lastTransition=stamp(old))
    assert not rules.expired_record(rules.request_finished_at(pending), NOW, 90)


def test_bindings_go_with_their_identity_or_when_orphaned_but_never_young() -> None:
    old = stamp(NOW - timedelta(hours=1))
    young = stamp(NOW - timedelta(seconds=30))
    removed, existing = {"sa-idle"}, {"sa-idle", "sa-live"}
    assert rules.binding_removable("sa-idle", old, removed, existing, NOW, 600)
    # Removed by this pass: however young (made with it, e.g. at its first issuance).
    assert rules.binding_removable("sa-idle", young, removed, existing, NOW, 600)
    assert rules.binding_removable("sa-gone", old, removed, existing, NOW, 600)
    assert not rules.binding_removable("sa-live", old, removed, existing, NOW, 600)
    assert not rules.binding_removable("sa-gone", young, removed, existing, NOW, 600)
    assert not rules.binding_removable("", old, removed, existing, NOW, 600)
    assert not rules.binding_removable("sa-gone", None, removed, existing, NOW, 600)


def event(name: str, obj: str, when: datetime) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Environment", "name": obj},
        "lastTimestamp": stamp(when),
    }


def test_events_beyond_the_newest_per_object_or_the_retention_go() -> None:
    evs = [event(f"dev.{i}", "dev", NOW - timedelta(minutes=i)) for i in range(5)]
    evs += [event(f"ops.{i}", "ops", NOW - timedelta(minutes=i)) for i in range(2)]
    evs.append(event("ops.old", "ops", NOW - timedelta(days=31)))
    doomed = {e["metadata"]["name"] for e in rules.events_to_delete(evs, NOW, 30, 3)}
    assert doomed == {"dev.3", "dev.4", "ops.old"}
    assert rules.events_to_delete(evs, NOW, 30, 1000) == [evs[-1]]


def test_counts_print_the_contracts_keys() -> None:
    c = rules.Counts()
    c.add("sessionSecrets", 3)
    other = rules.Counts(targets=2, failed_targets=1)
    other.add("bindings")
    c.merge(other)
    assert c.as_json() == {
        "sessionSecrets": 3,
        "serviceAccounts": 0,
        "bindings": 1,
        "promotions": 0,
        "accessRequests": 0,
        "events": 0,
        "targets": 2,
        "failedTargets": 1,
    }


def test_the_server_of_a_kubeconfig_groups_targets() -> None:
    doc = {
        "current-context": "b",
        "contexts": [
            {"name": "a", "context": {"cluster": "one"}},
            {"name": "b", "context": {"cluster": "two"}},
        ],
        "clusters": [
            {"name": "one", "cluster": {"server": "https://one:6443"}},
            {"name": "two", "cluster": {"server": "https://two:6443/"}},
        ],
    }
    assert server_of(doc) == "https://two:6443"
    assert (
        server_of(
            {
                "contexts": [{"name": "a", "context": {"cluster": "one"}}],
                "clusters": doc["clusters"],
            }
        )
        == "https://one:6443"
    )
    assert server_of(None) == ""
    assert server_of({"current-context": "zz"}) == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--advance-seconds", "-1"],
        ["--identity-idle-days", "0"],
        ["--finished-retention-days", "0"],
        ["--cleanup-parallelism", "0"],
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cleanup", "--kubeconfig", "/nonexistent", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("scipian-backend: --")


def test_the_defaults_are_the_issues_numbers_and_bounds_hold() -> None:
    d = CleanupSettings()
    d.check()
    assert (d.interval_seconds, d.identity_idle_days, d.finished_retention_days) == (3600, 30, 90)
    with pytest.raises(ConfigError, match="--cleanup-interval-seconds"):
        CleanupSettings(interval_seconds=0).check()
    with pytest.raises(ConfigError, match="--cleanup-page-size"):
        CleanupSettings(page_size=100000).check()


def test_the_periodic_lease_is_a_dns_label() -> None:
    assert WorkerSettings(periodic_lease="scipian-test-cleanup-1").periodic_lease
    with pytest.raises(ConfigError, match="--worker-periodic-lease"):
        WorkerSettings(periodic_lease="Not A Lease")

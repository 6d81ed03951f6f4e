"""The worker room's pure parts: who may take a Lease, the wake-up queue, the backoff, Lease
names, a claim's loss order, the settings' bounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from scipian_backend.errors import ConfigError
from scipian_backend.worker.claims import Claim
from scipian_backend.worker.leases import MAX_NAME, expires_at, lease_name, may_take, stamp
from scipian_backend.worker.settings import WorkerSettings, default_replica_id
from scipian_backend.worker.wakeups import WakeQueue, backoff

NOW = datetime(2026, 12, 7, 8, 0, 0, tzinfo=timezone.utc)


def _spec(holder: str, renewed_ago: float, duration: int = 30) -> dict[str, object]:
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": duration,
        "acquireTime": stamp(NOW - timedelta(seconds=renewed_ago + 100)),
        "renewTime": stamp(NOW - timedelta(seconds=renewed_ago)),
    }


def test_a_lease_held_by_another_is_not_taken_before_it_expires() -> None:
    assert not may_take(_spec("b", 29.9), "a", NOW)
    assert not may_take(_spec("b", 30), "a", NOW)  # renewTime + duration == now: still held


def test_an_expired_lease_is_taken() -> None:
    assert may_take(_spec("b", 30.001), "a", NOW)
    assert may_take(_spec("b", 3600), "a", NOW)


def test_our_own_lease_and_an_unheld_one_are_taken() -> None:
    assert may_take(_spec("a", 0), "a", NOW)
    assert may_take({"holderIdentity": ""}, "a", NOW)
    assert may_take({}, "a", NOW)


def test_expiry_uses_renew_time_else_acquire_time() -> None:
    spec = _spec("b", 10)
    assert expires_at(spec) == NOW + timedelta(seconds=20)
    del spec["renewTime"]
    assert expires_at(spec) == NOW - timedelta(seconds=110) + timedelta(seconds=30)
    assert expires_at({"holderIdentity": "b", "leaseDurationSeconds": 30}) is None
    assert expires_at({"renewTime": stamp(NOW), "leaseDurationSeconds": True}) is None
    # A holder without a time or a duration holds nothing.
    assert may_take({"holderIdentity": "b", "renewTime": stamp(NOW)}, "a", NOW)


def test_expiry_reads_second_precision_times() -> None:
    spec = {"holderIdentity": "b", "leaseDurationSeconds": 5, "renewTime": "2026-12-07T07:59:50Z"}
    assert expires_at(spec) == datetime(2026, 12, 7, 7, 59, 55, tzinfo=timezone.utc)
    assert may_take(spec, "a", NOW)


def test_lease_names_hash_names_too_long() -> None:
    assert lease_name("promotion", "p-1") == "scipian-exec-promotion-p-1"
    long = "x" * 250
    name = lease_name("promotion", long)
    assert len(name) <= MAX_NAME and name.startswith("scipian-exec-promotion-")
    assert name != lease_name("promotion", "y" * 250)
    assert name == lease_name("promotion", long)


def test_the_queue_pops_due_keys_in_time_order() -> None:
    q: WakeQueue[str] = WakeQueue()
    q.schedule("late", 10)
    q.schedule("early", 1)
    q.schedule("mid", 5)
    assert q.next_in(0) == 1
    assert q.pop_due(5) == ["early", "mid"]
    assert q.pop_due(9.9) == []
    assert q.next_in(9) == 1
    assert q.pop_due(10) == ["late"]
    assert q.next_in(10) is None and len(q) == 0


def test_an_earlier_wake_wins_unless_replaced() -> None:
    q: WakeQueue[str] = WakeQueue()
    q.schedule("k", 100)
    q.schedule("k", 0)  # a change: now
    assert q.pop_due(0) == ["k"]
    q.schedule("k", 0)
    q.schedule("k", 100)  # a later "next turn" does not delay a change
    assert q.pop_due(0) == ["k"]
    q.schedule("k", 0)
    q.schedule("k", 50, replace=True)  # a failure's backoff does
    assert q.pop_due(49) == [] and q.pop_due(50) == ["k"]
    assert len(q) == 0


def test_a_discarded_key_is_not_popped() -> None:
    q: WakeQueue[str] = WakeQueue()
    q.schedule("gone", 1)
    q.schedule("kept", 2)
    q.discard("gone")
    assert "gone" not in q and "kept" in q
    assert q.next_in(0) == 2
    assert q.pop_due(5) == ["kept"]
    q.schedule("gone", 3)  # scheduled again after the discard: back
    assert q.pop_due(5) == ["gone"]


def test_backoff_doubles_and_is_bounded() -> None:
    assert backoff(0) == 0
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(9) == 256 and backoff(10) == 300 and backoff(10_000) == 300
    assert backoff(3, base=0.5, most=30) == 2


def test_on_lost_callbacks_run_before_lost_is_set() -> None:
    claim = Claim("scipian-exec-t-x")
    seen: list[str] = []
    claim.on_lost(lambda: seen.append(f"first lost={claim.lost.is_set()}"))

    def broken() -> None:
        raise RuntimeError("a callback that fails")

    claim.on_lost(broken)
    claim.on_lost(lambda: seen.append(f"third lost={claim.lost.is_set()}"))
    assert not claim.lost.is_set()
    claim.lose()
    assert seen == ["first lost=False", "third lost=False"]
    assert claim.lost.is_set()
    claim.lose()  # once only
    assert len(seen) == 2
    claim.on_lost(lambda: seen.append("late"))  # registered after the loss: at once
    assert seen[-1] == "late"


def test_worker_settings_defaults_are_change_md_numbers() -> None:
    w = WorkerSettings()
    assert (w.lease_seconds, w.renew_seconds, w.lost_after_seconds, w.threads) == (30, 10, 20, 4)
    assert w.enabled and w.replica_id == default_replica_id()
    assert WorkerSettings(replica="pod-a").replica_id == "pod-a"


@pytest.mark.parametrize(
    "changes",
    [
        {"renew_seconds": 20.0},  # not below lost-after
        {"lost_after_seconds": 30.0},  # not below the lease
        {"renew_seconds": 0.0},
        {"lease_seconds": 2, "renew_seconds": 0.5, "lost_after_seconds": 1.0},
        {"threads": 0},
        {"threads": 65},
        {"stop_seconds": -1.0},
        {"resync_seconds": 0.0},
        {"replica": "a b"},
        {"replica": "x" * 129},
        {"replica": "-a"},
    ],
)
def test_worker_settings_out_of_bounds_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        WorkerSettings(**changes)  # type: ignore[arg-type]

"""The executor's pure decisions: phase transitions, deadlines, recovery, classified
failures (promotions/records.py, deadlines.py, recovery.py, failures.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from scipian_backend.promotions import deadlines, failures, recovery
from scipian_backend.promotions import records as r

T0 = datetime(2026, 12, 7, 8, 0, 0, tzinfo=timezone.utc)


def promo(status: dict[str, Any], timeout: int = 60, soak: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": r.now_stamp(T0)},
        "spec": {"timeoutSeconds": timeout, "soakSeconds": soak, "through": ["dev", "prod"]},
        "status": status,
    }


def test_initial_status_stamps_the_first_wait_and_the_render_digests() -> None:
    s = r.initial_status(["staging", "prod"], {"staging": 1}, T0, {"staging": "sha256:a"})
    assert s["phase"] == r.AWAITING and s["lastTransition"] == r.now_stamp(T0)
    first, second = s["steps"]
    assert first["awaitingSince"] == r.now_stamp(T0) and first["renderDigest"] == "sha256:a"
    assert "awaitingSince" not in second and "renderDigest" not in second
    assert "stepUpExpires" not in s


def test_a_step_runs_verifies_soaks_and_the_next_waits_for_approval() -> None:
    s = r.initial_status(["dev", "prod"], {"prod": 1}, T0)
    t1 = T0 + timedelta(seconds=5)
    s = r.start_step(s, 0, t1, None, "replica-a")
    step = s["steps"][0]
    assert (step["phase"], step["previousRevision"], step["executedBy"]) == (
        r.DEPLOYING,
        None,
        "replica-a",
    )
    assert s["executedBy"] == "replica-a" and s["lastTransition"] == r.now_stamp(t1)
    # a re-run after a takeover keeps the first start (the deadline is not extended)
    again = r.start_step(s, 0, t1 + timedelta(seconds=30), 4, "replica-b")
    assert again["steps"][0]["startedAt"] == r.now_stamp(t1)
    assert again["steps"][0]["previousRevision"] is None
    assert again["steps"][0]["executedBy"] == "replica-b"
    s = r.to_verifying(s, 0, t1, revision=1, manifest_digest="sha256:m", config_digest="sha256:c")
    assert (s["steps"][0]["revision"], s["steps"][0]["manifestDigest"]) == (1, "sha256:m")
    s = r.apply_verdict(s, 0, r.Verdict("ok", "", 1), t1, soak_seconds=2)
    assert s["steps"][0]["phase"] == r.VERIFYING and s["steps"][0]["verifiedAt"]
    s = r.apply_verdict(s, 0, r.Verdict("waiting", "1/2 ready", 1), t1, soak_seconds=2)
    assert "verifiedAt" not in s["steps"][0]  # the soak starts again
    t2 = t1 + timedelta(seconds=1)
    s = r.apply_verdict(s, 0, r.Verdict("ok", "", 1), t2, soak_seconds=2)
    s = r.apply_verdict(s, 0, r.Verdict("ok", "", 1), t2 + timedelta(seconds=2), soak_seconds=2)
    assert s["steps"][0]["phase"] == r.SUCCEEDED
    assert (s["phase"], s["steps"][1]["phase"]) == (r.AWAITING, r.AWAITING)
    assert s["steps"][1]["awaitingSince"] == r.now_stamp(t2 + timedelta(seconds=2))
    approved = r.add_approval(s, 1, "dave", "ok", t2, "sha256:d")
    assert approved["steps"][1]["phase"] == r.PENDING and approved["phase"] == r.RUNNING
    assert approved["steps"][1]["approvals"][0]["diffDigest"] == "sha256:d"


def test_a_failed_verification_says_so_and_fails_the_promotion() -> None:
    s = r.initial_status(["dev", "prod"], {}, T0)
    s = r.to_verifying(r.start_step(s, 0, T0, 3), 0, T0, revision=4)
    s = r.apply_verdict(s, 0, r.Verdict("failed", "pod web-1 restarted", 4), T0, 0)
    assert s["steps"][0]["message"] == "verification: pod web-1 restarted"
    assert (s["phase"], s["message"]) == (r.FAILED, "dev: verification: pod web-1 restarted")
    assert s["steps"][1]["phase"] == r.PENDING


def test_cancel_ends_the_open_step_and_a_gate_added_raises_the_approvals() -> None:
    s = r.start_step(r.initial_status(["dev", "prod"], {}, T0), 0, T0, None)
    c = r.cancel(s, "cancelled by oidc:carol@example.test", T0)
    assert c["phase"] == r.CANCELLED and c["steps"][0]["phase"] == r.CANCELLED
    assert c["steps"][1]["phase"] == r.PENDING and r.CANCELLED in r.TERMINAL
    assert r.cancel_message({"user": "u"}) == "cancelled by u"
    assert r.cancel_message({"user": "u", "reason": "pre-empted by big-1"}) == "pre-empted by big-1"
    w = r.await_approval(r.initial_status(["prod"], {}, T0), 0, T0, 2)
    assert (w["steps"][0]["phase"], w["steps"][0]["approvalsRequired"]) == (r.AWAITING, 2)
    assert w["steps"][0]["awaitingSince"] == r.now_stamp(T0)


def test_changes_list_each_phase_move() -> None:
    s = r.initial_status(["dev"], {}, T0)
    c = r.cancel(r.start_step(s, 0, T0, None), "cancelled by u", T0)
    assert [(x.environment, x.old, x.new) for x in r.changes(s, c)] == [
        ("dev", r.PENDING, r.CANCELLED),
        ("", r.RUNNING, r.CANCELLED),
    ]


def test_deadlines_of_each_waiting_state() -> None:
    limits = deadlines.Limits(approval_seconds=100, idle_factor=2)
    s = r.initial_status(["dev", "prod"], {}, T0)
    pending = promo(s, timeout=60)
    assert deadlines.due(pending, limits) == deadlines.Due(
        T0 + timedelta(seconds=120), None, "Pending"
    )
    assert deadlines.expired(pending, T0 + timedelta(seconds=119), limits) is None
    assert deadlines.expired(pending, T0 + timedelta(seconds=120), limits) is not None
    deploying = promo(r.start_step(s, 0, T0, None), timeout=60, soak=30)
    assert deadlines.due(deploying, limits) == deadlines.Due(
        T0 + timedelta(seconds=60), 0, "Deploying"
    )
    verifying = promo(r.to_verifying(r.start_step(s, 0, T0, None), 0, T0), timeout=60, soak=30)
    # the soak is on top of the timeout: a long soak is no timeout
    assert deadlines.due(verifying, limits) == deadlines.Due(
        T0 + timedelta(seconds=90), 0, "Verifying"
    )
    waiting = promo(r.await_approval(s, 0, T0), timeout=60)
    assert deadlines.due(waiting, limits) == deadlines.Due(
        T0 + timedelta(seconds=100), 0, "AwaitingApproval"
    )
    assert deadlines.seconds_left(waiting, T0 + timedelta(seconds=40), limits) == 60
    done = promo(r.cancel(s, "cancelled by u", T0))
    assert deadlines.due(done, limits) is None
    # defaults: 72 h and twice the timeout
    assert deadlines.Limits() == deadlines.Limits(259_200, 2.0)


@dataclass
class Rec:
    revision: int
    status: str
    manifest: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)
    chart_name: str = "web"
    chart_version: str = "1.0.0"


def test_recovery_rolls_a_pending_release_back_or_uninstalls_it() -> None:
    assert recovery.plan([]) == recovery.Plan("none")
    assert recovery.plan([Rec(1, "superseded"), Rec(2, "deployed")]).action == "none"
    found = recovery.plan([Rec(1, "superseded"), Rec(2, "deployed"), Rec(3, "pending-upgrade")])
    assert found == recovery.Plan("rollback", 2, "pending-upgrade (revision 3)")
    assert recovery.describe(found, "r-1") == (
        "pending-upgrade (revision 3) rolled back to revision 2 by r-1"
    )
    assert recovery.plan([Rec(1, "pending-install")]).action == "uninstall"
    assert recovery.plan([Rec(1, "failed"), Rec(2, "pending-rollback")]).action == "uninstall"
    assert recovery.current_revision([Rec(1, "superseded"), Rec(2, "deployed")]) == 2
    assert recovery.current_revision([Rec(1, "failed")]) is None


def test_undo_leaves_a_release_already_back_where_the_step_found_it() -> None:
    a, b = "kind: A", "kind: B"
    assert recovery.undo([], 1).action == "none"
    assert recovery.undo([Rec(1, "deployed", a)], 1).action == "none"
    # helm's --rollback-on-failure wrote revision 3 = revision 1's manifest and values
    helm_did_it = [Rec(1, "superseded", a), Rec(2, "failed", b), Rec(3, "deployed", a)]
    assert recovery.undo(helm_did_it, 1).action == "none"
    verified_then_failed = [Rec(1, "superseded", a), Rec(2, "deployed", b)]
    assert recovery.undo(verified_then_failed, 1) == recovery.Plan(
        "rollback", 1, "deployed (revision 2)"
    )
    assert recovery.undo([Rec(1, "deployed", b)], None).action == "uninstall"
    # the same manifest from another chart version is another release: rolled back
    other = [Rec(1, "superseded", a), Rec(2, "deployed", a, chart_version="1.1.0")]
    assert recovery.undo(other, 1).action == "rollback"


def test_failures_are_classified_and_carry_only_the_approved_names() -> None:
    render = [("Deployment", "web"), ("Secret", "web-key")]
    c = failures.classify
    assert c(1, b"anything", "timeout", render) == "timeout"
    assert c(1, b"Error: context deadline exceeded", "", render) == "timeout"
    refused = b'Error: failed to create resource: Deployment.apps "web" is invalid: spec: bad'
    assert c(1, refused, "", render) == "apply refused by the API server: Deployment/web"
    ssa = (
        b"Error: UPGRADE FAILED: release web failed, and has been rolled back due to "
        b"rollback-on-failure being set: server-side apply failed for object shop/web apps/v1, "
        b'Kind=Deployment: Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1'
    )
    assert c(1, ssa, "", render) == "apply refused by the API server: Deployment/web"
    hook = (
        b"Error: UPGRADE FAILED: release web failed, and has been rolled back due to "
        b"rollback-on-failure being set: post-upgrade hooks failed: resource Job/shop/web-smoke "
        b"not ready. status: Failed, message: Job Failed. failed: 1/1"
    )
    assert c(1, hook, "", render) == "rolled back"
    waited = (
        b"Error: UPGRADE FAILED: release web failed, and has been rolled back due to "
        b"rollback-on-failure being set: resource Deployment/shop/web not ready. status: "
        b"InProgress, message: Pending termination: 1\ncontext deadline exceeded"
    )
    assert c(1, waited, "", render) == "timeout"
    drift = (
        b"Error: conflict occurred while applying object shop/web apps/v1, Kind=Deployment: "
        b'Apply failed with 1 conflict: conflict with "kubectl-set"'
    )
    assert c(1, drift, "", render) == "apply refused by the API server: Deployment/web"
    forbidden = b'Error: secrets "web-key" is forbidden: User "x" cannot create'
    assert c(1, forbidden, "", render) == "apply refused by the API server: Secret/web-key"
    # a name the approved render does not hold never comes through (it may be a value)
    leak = b'Error: failed to create resource: Deployment.apps "hunter2" is invalid'
    assert c(1, leak, "", render) == "apply refused by the API server"
    rolled = b"Error: release web failed, and has been rolled back due to rollback-on-failure"
    assert c(1, rolled + b" being set: pod failed", "", render) == "rolled back"
    secret = b"Error: execution error at (shop-web/templates/x.yaml:1): the key is hunter2"
    assert c(1, secret, "", render) == "rendering failed"
    assert "hunter2" not in c(1, b"Error: hunter2", "", render)

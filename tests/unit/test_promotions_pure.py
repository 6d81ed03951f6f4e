"""The pure parts of promotion chains: transitions, gates, the release lock (bodies and
values: test_promotion_bodies_pure.py; evidence: test_promotions_evidence.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from scipian_backend.promotions import gates
from scipian_backend.promotions import records as r
from scipian_backend.promotions.lock import lock_name, may_take_over

T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=timezone.utc)
ID = "sha256:" + "a" * 64


def promotion(through: list[str], approvals: dict[str, int] | None = None) -> dict[str, Any]:
    spec = {
        "release": "web",
        "namespace": "shop",
        "chart": {"digest": ID, "name": "shop-web", "version": "1.2.0"},
        "through": through,
        "initiator": {"user": "oidc:carol@example.test"},
    }
    promo = r.new_promotion("web-abcde", spec)
    promo["status"] = r.initial_status(through, approvals or {}, T0)
    return promo


def with_status(promo: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return dict(promo, status=status)


# --- transitions --------------------------------------------------------------------------


def test_initial_status_awaits_approval_only_on_a_first_gated_step() -> None:
    p = promotion(["dev", "prod"], {"prod": 1})
    assert r.phase(p) == r.RUNNING
    assert [s["phase"] for s in r.steps_of(p)] == [r.PENDING, r.PENDING]
    assert r.steps_of(p)[1]["approvalsRequired"] == 1
    q = promotion(["prod"], {"prod": 1})
    assert r.phase(q) == r.AWAITING and r.steps_of(q)[0]["phase"] == r.AWAITING
    assert r.status_of(p)["lastTransition"] == "2026-11-30T10:00:00Z"


def test_a_step_runs_verifies_soaks_and_hands_over_to_an_approval() -> None:
    p = promotion(["dev", "prod"], {"prod": 1})
    s = r.start_step(r.status_of(p), 0, T0, 4)
    assert s["steps"][0]["phase"] == r.DEPLOYING and s["steps"][0]["previousRevision"] == 4
    s = r.to_verifying(s, 0)
    ok = r.Verdict("ok", "", 5)
    s = r.apply_verdict(s, 0, ok, T0 + timedelta(seconds=1), soak_seconds=2, timeout_seconds=60)
    assert s["steps"][0]["phase"] == r.VERIFYING and s["steps"][0]["verifiedAt"]
    # a check going false during the soak starts it again
    wait = r.Verdict("waiting", "waiting for deployment/web: 0/1 ready", 5)
    s = r.apply_verdict(s, 0, wait, T0 + timedelta(seconds=2), 2, 60)
    assert "verifiedAt" not in s["steps"][0] and s["steps"][0]["message"].startswith("waiting")
    s = r.apply_verdict(s, 0, ok, T0 + timedelta(seconds=3), 2, 60)
    s = r.apply_verdict(s, 0, ok, T0 + timedelta(seconds=4), 2, 60)
    assert s["steps"][0]["phase"] == r.VERIFYING
    s = r.apply_verdict(s, 0, ok, T0 + timedelta(seconds=5), 2, 60)
    assert s["steps"][0]["phase"] == r.SUCCEEDED and s["steps"][0]["revision"] == 5
    assert s["steps"][1]["phase"] == r.AWAITING and s["phase"] == r.AWAITING
    s = r.add_approval(s, 1, "oidc:dave@example.test", "ok", T0)
    assert s["steps"][1]["phase"] == r.PENDING and s["phase"] == r.RUNNING
    changes = r.changes(r.status_of(p), s)
    assert ("dev", r.PENDING, r.SUCCEEDED) in [(c.environment, c.old, c.new) for c in changes]


def test_waiting_keeps_verifying_and_the_last_success_finishes() -> None:
    # the Verifying deadline is deadlines.py's (test_promotion_execution_pure.py)
    p = promotion(["dev"])
    s = r.to_verifying(r.start_step(r.status_of(p), 0, T0, None), 0)
    late = r.apply_verdict(s, 0, r.Verdict("waiting", "w", 1), T0 + timedelta(seconds=31), 0, 30)
    assert late["steps"][0]["phase"] == r.VERIFYING and late["steps"][0]["message"] == "w"
    done = r.apply_verdict(s, 0, r.Verdict("ok", "", 1), T0, 0, 30)
    assert done["phase"] == r.SUCCEEDED


def test_a_failed_step_fails_the_promotion_and_leaves_later_steps_pending() -> None:
    p = promotion(["dev", "staging", "prod"])
    s = r.fail_step(r.status_of(p), 1, "helm: boom", T0, revision=3)
    assert s["phase"] == r.FAILED and s["message"] == "staging: helm: boom"
    assert [x["phase"] for x in s["steps"]] == [r.PENDING, r.FAILED, r.PENDING]
    assert s["steps"][1]["revision"] == 3


def test_names_fit_63() -> None:
    name = r.new_name("a" * 53)
    assert len(name) <= 63 and name.startswith("a" * 53 + "-")
    assert lock_name("shop", "web") == lock_name("shop", "web") != lock_name("shop", "web2")


# --- gates --------------------------------------------------------------------------------


def test_order_gate_names_both_environments() -> None:
    assert gates.order_problem(["dev", "staging", "prod"], {"prod": "staging"}) is None
    problem = gates.order_problem(["dev", "prod"], {"prod": "staging"})
    assert problem is not None and "staging" in problem and "prod" in problem
    assert gates.order_problem(["prod", "staging"], {"prod": "staging"}) is not None


def test_step_gate_order_approvals_and_conflicts() -> None:
    p = promotion(["dev", "staging", "prod"], {"prod": 1})
    gate = gates.step_gate(p, 2)
    assert gate is not None and gate.kind == "forbidden" and "dev Succeeded first" in gate.message
    assert gates.step_gate(p, 0) is None
    s = r.status_of(p)
    for i in (0, 1):
        s = r.advance(dict(s, steps=[dict(x) for x in s["steps"]]), i)
        s["steps"][i]["phase"] = r.SUCCEEDED
    s = r.advance(s, 1)
    gate = gates.step_gate(with_status(p, s), 2)
    assert gate == gates.Gate("approval", "prod needs 1 approval, has 0")
    s = r.add_approval(s, 2, "oidc:dave@example.test", "ok", T0)
    assert gates.step_gate(with_status(p, s), 2) is None
    gate = gates.step_gate(with_status(p, s), 0)
    assert gate is not None and gate.kind == "conflict"
    failed = with_status(p, r.fail_promotion(s, "stale"))
    gate = gates.step_gate(failed, 2)
    assert gate is not None and gate.kind == "conflict"


def test_approval_gates() -> None:
    p = promotion(["dev", "prod"], {"prod": 1})
    self_approval = gates.approval_problem(p, 1, "oidc:carol@example.test")
    assert self_approval == gates.Gate(
        "forbidden", "oidc:carol@example.test started promotion web-abcde and cannot approve it"
    )
    assert gates.approval_problem(p, 1, "oidc:dave@example.test") is None
    s = r.add_approval(r.status_of(p), 1, "oidc:dave@example.test", "ok", T0)
    again = gates.already_approved(with_status(p, s), 1, "oidc:dave@example.test")
    assert again is not None and again.kind == "conflict"


def test_lock_takeover() -> None:
    just = {"acquireTime": "2026-11-30T10:00:00.000000Z"}
    soon, later = T0 + timedelta(seconds=5), T0 + timedelta(seconds=61)
    assert not may_take_over(just, "active", later)
    assert may_take_over(just, "finished", soon)
    assert not may_take_over(just, "gone", soon)  # its promotion may be on its way
    assert may_take_over(just, "gone", later)
    assert may_take_over({}, "gone", soon)

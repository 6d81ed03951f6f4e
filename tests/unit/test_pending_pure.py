"""scipian_pending_approvals' pure parts (audit/pending.py): what counts, and the cache."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from scipian_backend.audit.pending import (
    PendingApprovals,
    awaiting_promotion_steps,
    pending_requests,
)
from scipian_backend.errors import ServiceUnavailable


def _promo(phase: str, *steps: str) -> dict[str, Any]:
    return {"status": {"phase": phase, "steps": [{"phase": s} for s in steps]}}


def test_promotion_steps_awaiting_in_unfinished_promotions() -> None:
    items: list[dict[str, Any]] = [
        _promo("AwaitingApproval", "AwaitingApproval", "Pending"),
        _promo("Running", "Succeeded", "AwaitingApproval", "AwaitingApproval"),
        _promo("Cancelled", "AwaitingApproval"),  # finished: its steps await nothing
        _promo("Running", "Deploying"),
        {"metadata": {"name": "no-status-yet"}},
    ]
    assert awaiting_promotion_steps(items) == 3


def test_pending_requests_only() -> None:
    items: list[dict[str, Any]] = [
        {"status": {"phase": "Pending"}},
        {"status": {"phase": "Approved"}},
        {"status": {"phase": "Pending"}, "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}},
        {"metadata": {}},
    ]
    assert pending_requests(items) == 1


def test_counts_are_cached_and_a_failure_keeps_the_last_number() -> None:
    now = [100.0]
    calls = {"promotion": 0, "request": 0}
    answers = {"promotion": 2}

    def promotion() -> int:
        calls["promotion"] += 1
        return answers["promotion"]

    def request() -> int:
        calls["request"] += 1
        raise ServiceUnavailable("management cluster unavailable (HTTP 404)")

    pending = PendingApprovals({"promotion": promotion, "request": request}, 15, lambda: now[0])
    registry = CollectorRegistry(auto_describe=True)
    registry.register(pending)
    text = generate_latest(registry).decode()
    assert 'scipian_pending_approvals{kind="promotion"} 2.0' in text
    assert 'kind="request"' not in text  # never counted: left out, not 0
    answers["promotion"] = 5
    now[0] += 10
    assert pending.counts() == {"promotion": 2}  # within the cache period: no list
    assert calls == {"promotion": 1, "request": 1}
    now[0] += 10
    assert pending.counts() == {"promotion": 5}
    assert calls == {"promotion": 2, "request": 2}

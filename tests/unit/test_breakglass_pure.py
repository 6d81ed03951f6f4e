"""Break-glass entries kept in an Environment's status (breakglass/entries.py) and the
metrics' environment labels (metrics.py): pure functions."""

from __future__ import annotations

from typing import Any

from scipian_backend.breakglass import entries as e
from scipian_backend.metrics import Metrics, environment_label
from tests.prometheus_text import sample


def entry(n: int, acked: bool = False) -> dict[str, Any]:
    got = e.new_entry(f"{n:016x}", f"oidc:u{n}", f"why {n}", f"r{n}", f"2026-12-07T00:00:{n:02d}Z")
    if acked:
        got["acknowledgement"] = {"user": "oidc:x", "time": "t", "justification": "ok"}
    return got


def test_the_list_is_bounded_and_the_oldest_acknowledged_goes_first() -> None:
    kept = [entry(0), entry(1, acked=True), entry(2), entry(3, acked=True)]
    out = e.appended(kept, entry(4), limit=4)
    assert [x["id"] for x in out] == [f"{n:016x}" for n in (0, 2, 3, 4)]
    out = e.appended(out, entry(5), limit=4)
    assert [x["id"] for x in out] == [f"{n:016x}" for n in (0, 2, 4, 5)]
    # all unacknowledged: the oldest goes (its audit line keeps it)
    out = e.appended(out, entry(6), limit=4)
    assert [x["id"] for x in out] == [f"{n:016x}" for n in (2, 4, 5, 6)]
    grown: list[dict[str, Any]] = []
    for n in range(60):
        grown = e.appended(grown, entry(n), limit=50)
    assert len(grown) == 50


def test_entries_of_ignores_what_is_not_an_entry() -> None:
    assert e.entries_of({}) == []
    assert e.entries_of({"status": {"breakGlass": "x"}}) == []
    assert e.entries_of({"status": {"breakGlass": [1, {"id": 2}, entry(1)]}}) == [entry(1)]


def test_who_may_acknowledge() -> None:
    mine = entry(1)
    assert e.acknowledge_problem(None, "prod", "ab", "oidc:c") == (
        "not_found",
        "environment prod has no break-glass ab",
    )
    kind, message = e.acknowledge_problem(mine, "prod", mine["id"], "oidc:u1") or ("", "")
    assert kind == "forbidden"
    assert "oidc:u1 broke the glass" in message
    assert e.acknowledge_problem(mine, "prod", mine["id"], "oidc:other") is None
    done = e.with_acknowledgement([mine, entry(2)], mine["id"], "oidc:other", "seen", "t")
    assert done[0]["acknowledgement"] == {
        "user": "oidc:other",
        "time": "t",
        "justification": "seen",
    }
    assert "acknowledgement" not in done[1]
    kind, message = e.acknowledge_problem(done[0], "prod", mine["id"], "oidc:third") or ("", "")
    assert kind == "conflict"
    assert "acknowledged by oidc:other" in message
    assert [x["id"] for x in e.pending(done)] == [entry(2)["id"]]


def test_ids() -> None:
    assert e.ID.fullmatch(e.new_id())
    assert not e.ID.fullmatch("../x")
    assert not e.ID.fullmatch("0123456789abcdef\n")


def test_environment_labels_without_detail_say_only_gated_or_ungated() -> None:
    assert environment_label("prod", True, False) == "gated"
    assert environment_label("dev", False, False) == "ungated"
    assert environment_label("prod", True, True) == "prod"
    m = Metrics()
    m.issuance("secret-env", "deploy", gated=True)
    m.issuance("other-env", "read", gated=False)
    m.break_glass("secret-env", gated=True)
    text = m.render()
    assert "secret-env" not in text
    assert "other-env" not in text
    assert sample(text, "scipian_issuances_total", environment="gated", level="deploy") == 1
    assert sample(text, "scipian_issuances_total", environment="ungated", level="read") == 1
    assert sample(text, "scipian_break_glass_total", environment="gated") == 1
    detailed = Metrics(detail=True)
    detailed.break_glass("prod", gated=True)
    assert sample(detailed.render(), "scipian_break_glass_total", environment="prod") == 1

"""Helm 4's printers as the plugin writes them (pure): Go's time layouts, uitable, JSON.
Byte parity with the real helm is tested on the stack (tests/e2e/helm)."""

from __future__ import annotations

import pytest

from kubectl_scipian.helm import gofmt, listing, printers


@pytest.mark.parametrize(
    ("stored", "string", "ansic", "nano"),
    [
        (
            "2026-11-29T22:37:03.854279765Z",
            "2026-11-29 22:37:03.854279765 +0000 UTC",
            "Sun Nov 29 22:37:03 2026",
            "2026-11-29T22:37:03.854279765Z",
        ),
        (
            "2026-03-05T01:02:03.100Z",
            "2026-03-05 01:02:03.1 +0000 UTC",
            "Thu Mar  5 01:02:03 2026",
            "2026-03-05T01:02:03.1Z",
        ),
        ("2026-03-05T01:02:03Z", "2026-03-05 01:02:03 +0000 UTC", "Thu Mar  5 01:02:03 2026", None),
    ],
)
def test_go_time_layouts(stored: str, string: str, ansic: str, nano: str | None) -> None:
    t = gofmt.parse(stored)
    assert t is not None
    assert (gofmt.string(t), gofmt.ansic(t), gofmt.rfc3339nano(t)) == (
        string,
        ansic,
        nano or stored,
    )


@pytest.mark.parametrize("stored", ["", "0001-01-01T00:00:00Z", None, "yesterday"])
def test_absent_and_zero_times(stored: object) -> None:
    assert gofmt.parse(stored) is None


def test_uitable_pads_every_cell_and_joins_with_tabs() -> None:
    assert gofmt.uitable([["A", "LONGER"], ["bbb", "c"]]) == "A  \tLONGER\nbbb\tc     \n"
    assert gofmt.uitable([]) == "\n"


def test_go_json_is_compact_and_html_safe() -> None:
    assert gofmt.go_json({"d": "a<b>&c"}) == '{"d":"a\\u003cb\\u003e\\u0026c"}\n'


def rel(name: str, when: str, status: str = "deployed") -> dict[str, object]:
    return {"name": name, "version": 1, "info": {"last_deployed": when, "status": status}}


def names(found: list[dict[str, object]]) -> list[object]:
    return [r["name"] for r in found]


def test_list_sorts_like_helm() -> None:
    rels = [
        rel("b", "2026-01-01T00:00:02Z"),
        rel("a", "2026-01-01T00:00:03Z"),
        rel("c", "2026-01-01T00:00:01Z"),
    ]
    assert names(listing.choose(rels)) == ["a", "b", "c"]
    assert names(listing.choose(rels, reverse=True)) == ["c", "b", "a"]
    # -d sorts oldest first (SortByDate); -d -r newest first.
    assert names(listing.choose(rels, by_date=True)) == ["c", "b", "a"]
    assert names(listing.choose(rels, by_date=True, reverse=True)) == ["a", "b", "c"]
    assert names(listing.choose(rels, limit=2, offset=1)) == ["b", "c"]
    assert names(listing.choose(rels, filter="^[ab]")) == ["a", "b"]


def test_list_leaves_out_unknown_like_helms_default_mask() -> None:
    assert listing.choose([rel("x", "", "unknown"), rel("y", "", "uninstalled")]) == [
        rel("y", "", "uninstalled")
    ]


def test_chart_without_metadata_is_missing() -> None:
    assert printers.chart_name({}) == "MISSING" and printers.app_version({}) == "MISSING"

"""The pure parts of `get --watch`: the event stream's framing, kubectl's JSON of a watch
event, the tabwriter that remembers widths, one-time credential renewal, and which
watches can run across environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian.fanout.flags import mode
from kubectl_scipian.fanout.selection import SelectionError
from kubectl_scipian.read.printers.tabwriter import format_lines
from kubectl_scipian.read.watch import events, go_json, list_items, watch_event_json


def test_events_split_across_chunks() -> None:
    chunks = [b'{"type":"ADDED","object":{"a":', b'1}}\n{"type":"DEL', b'ETED","object":{}}\n']
    assert list(events(chunks)) == [
        {"type": "ADDED", "object": {"a": 1}},
        {"type": "DELETED", "object": {}},
    ]
    assert list(events([b'{"type":"ERROR","object":{}}'])) == [{"type": "ERROR", "object": {}}]


def test_watch_event_json_is_go_compact() -> None:
    obj = {"z": "<&>", "a": [1, 2], "kind": "Pod"}
    assert watch_event_json("ADDED", obj) == (
        '{"type":"ADDED","object":{"a":[1,2],"kind":"Pod","z":"\\u003c\\u0026\\u003e"}}\n'
    )
    status = {"kind": "Status", "apiVersion": "v1", "code": 410}
    assert watch_event_json("ERROR", status, sort=False) == (
        '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","code":410}}\n'
    )
    assert go_json({"b": 1, "a": 2}, indent=4, sort=False) == '{\n    "b": 1,\n    "a": 2\n}\n'


def test_remembered_widths_only_grow() -> None:
    widths: list[int] = []
    first = format_lines(
        [["NAME", "STATUS", "AGE"], ["a-long-name", "Running", "1s"]], 6, 3, widths
    )
    assert first == "NAME          STATUS    AGE\na-long-name   Running   1s\n"
    # a narrower row keeps the earlier widths; a wider cell widens its column for good
    assert format_lines([["b", "Running", "2s"]], 6, 3, widths) == "b             Running   2s\n"
    assert format_lines([["b", "Terminating", "3s"]], 6, 3, widths) == (
        "b             Terminating   3s\n"
    )
    assert (
        format_lines([["c", "Running", "4s"]], 6, 3, widths) == "c             Running       4s\n"
    )


def test_list_items_carry_api_version_and_kind() -> None:
    page = {"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "a"}}]}
    assert list_items(page) == [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}]
    one = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}
    assert list_items(one) == [one]


def _kubeconfig(token: str) -> dict[str, Any]:
    return {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }


def test_session_renews_its_credential_once(tmp_path: Path) -> None:
    import io

    from kubectl_scipian.read.session import Session

    asked: list[int] = []

    def renew() -> dict[str, Any]:
        asked.append(1)
        return _kubeconfig("new")

    session = Session(_kubeconfig("old"), tmp_path, io.BytesIO(), io.StringIO(), renew=renew)
    assert session.target.token == "old"
    assert session.renew() is True
    assert session.target.token == "new"
    assert session.renew() is False  # once
    assert asked == [1]
    without = Session(_kubeconfig("old"), tmp_path, io.BytesIO(), io.StringIO())
    assert without.renew() is False and without.target.token == "old"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pods", "-w"], "watch"),
        (["pods", "--watch-only", "-o", "wide"], "watch"),
        (["pods", "-w", "-o", "custom-columns=N:.metadata.name"], "watch"),
        (["pods", "-w=false"], "table"),
    ],
)
def test_watch_across_environments_prints_rows(argv: list[str], expected: str) -> None:
    assert mode("get", argv) == expected


@pytest.mark.parametrize("output", ["json", "yaml", "name", "jsonpath={.x}"])
def test_watch_across_environments_refuses_object_formats(output: str) -> None:
    with pytest.raises(SelectionError):
        mode("get", ["pods", "-w", "-o", output])

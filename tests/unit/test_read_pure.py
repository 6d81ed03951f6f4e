"""Pure pieces of the read commands: tabwriter, jsonpath, columns, resolution, durations."""

from __future__ import annotations

import pytest

from kubectl_scipian.read.args import Request, resource_requests
from kubectl_scipian.read.discovery import Resolver, Resource, match, shadowed_short_names
from kubectl_scipian.read.errors import UsageError
from kubectl_scipian.read.humanize import human_duration, smart_label
from kubectl_scipian.read.logs import go_duration_seconds
from kubectl_scipian.read.printers.columns import parse_spec, row, sort_key
from kubectl_scipian.read.printers.jsonpath import parse
from kubectl_scipian.read.printers.jsonyaml import go_key_less, to_json, to_yaml
from kubectl_scipian.read.printers.tabwriter import format_lines


def test_tabwriter_pads_all_but_the_last_cell() -> None:
    lines = [["NAME", "AGE"], ["a-long-name", "5s"], ["x", ""]]
    assert format_lines(lines, 6, 3) == "NAME          AGE\na-long-name   5s\nx             \n"


def test_tabwriter_blocks_end_at_lines_without_tabs() -> None:
    text = format_lines([["a", "b"], ["blank"], ["ccccccc", "d"]], 0, 2)
    assert text == "a  b\nblank\nccccccc  d\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (10799, "179m"),
        (3 * 3600, "3h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (45 * 86400, "45d"),
        (730 * 86400, "2y"),
        (800 * 86400, "2y70d"),
        (-5, "<invalid>"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_jsonpath_fields_ranges_filters() -> None:
    doc = {"items": [{"n": "a", "v": 1}, {"n": "b", "v": 2}], "m": {"k": "<x>"}}
    assert parse("{.items[*].n}").execute(doc) == "a b"
    assert parse('{range .items[?(@.v>1)]}{.n}{"\\n"}{end}').execute(doc) == "b\n"
    assert parse("{.m}").execute(doc) == '{"k":"\\u003cx\\u003e"}'
    assert parse("{.missing}").execute(doc) == ""
    assert parse("{.items[-1].v}").execute(doc) == "2"


def test_custom_columns_none_and_lists() -> None:
    cols = parse_spec("N:.n,L:.l[*],X:.x")
    assert row(cols, {"n": "a", "l": [1, 2]}) == ["a", "1,2", "<none>"]
    with pytest.raises(UsageError):
        parse_spec("nocolon")


def test_sort_by_and_yaml_key_order() -> None:
    # --sort-by: kubectl 1.36 compares strings bytewise, not in natural order.
    names = ["web-h7zb2", "web-h24m6", "a2", "a10"]
    assert sorted(names, key=lambda n: sort_key("{.n}")({"n": n})) == [
        "a10",
        "a2",
        "web-h24m6",
        "web-h7zb2",
    ]
    assert go_key_less("a9", "a10")
    assert go_key_less("a.b", "ab")


def test_json_and_yaml_like_go() -> None:
    assert to_json({"b": "<&>", "a": 1}) == '{\n    "a": 1,\n    "b": "\\u003c\\u0026\\u003e"\n}\n'
    doc = {"v": "16", "t": "2026-01-01T00:00:00Z", "s": "plain", "b": "true", "m": "a\nb", "n": 3}
    assert to_yaml(doc) == (
        'b: "true"\nm: |-\n  a\n  b\n"n": 3\ns: plain\nt: "2026-01-01T00:00:00Z"\nv: "16"\n'
    )


def test_argument_forms() -> None:
    assert resource_requests(["pods,svc", "a"], "get") == [
        Request("pods", "a"),
        Request("svc", "a"),
    ]
    assert resource_requests(["pod/a", "svc/b"], "get") == [
        Request("pod", "a"),
        Request("svc", "b"),
    ]
    with pytest.raises(UsageError, match="no need to specify a resource type"):
        resource_requests(["pods/a", "svc"], "get")


RESOURCES = [
    Resource("", "v1", "pods", "Pod", True, "pod", ("po",), ("all",)),
    Resource("", "v1", "events", "Event", True, "event", ("ev",)),
    Resource("apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",), ("all",)),
    Resource("events.k8s.io", "v1", "events", "Event", True, "event", ("ev",)),
    Resource("x.io", "v1", "po", "Thing", True, "thing"),
]


@pytest.mark.parametrize(
    ("arg", "names"),
    [
        ("pods", ["/pods"]),
        ("Pod", ["/pods"]),
        ("po", ["x.io/po"]),  # an exact resource name beats a short name
        ("deploy", ["apps/deployments"]),
        ("deployments.apps", ["apps/deployments"]),
        ("deployments.v1.apps", ["apps/deployments"]),
        ("events", ["/events"]),
        ("events.events.k8s.io", ["events.k8s.io/events"]),
        ("all", ["/pods", "apps/deployments"]),
        ("nope", []),
    ],
)
def test_resolution(arg: str, names: list[str]) -> None:
    assert [f"{r.group}/{r.name}" for r in match(RESOURCES, arg)] == names


def test_go_durations() -> None:
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("1.5s") == 1.5
    with pytest.raises(ValueError, match='unknown unit "x"'):
        go_duration_seconds("5x")


def test_smart_labels() -> None:
    assert smart_label("apiVersion") == "API Version"
    assert smart_label("uid") == "UID"
    assert smart_label("creationTimestamp") == "Creation Timestamp"
    assert smart_label("f:x1") == "f:x1"


def _claimants() -> list[Resource]:
    def r(
        group: str, version: str, name: str, short: tuple[str, ...], pref: bool = True
    ) -> Resource:
        return Resource(
            group, version, name, name.title()[:-1], True, name[:-1], short, (), (), pref
        )

    return [
        r("parity.scipian.io", "v1", "widgets", ("wdg",)),
        r("parity.scipian.io", "v1beta1", "widgets", ("wdg",), pref=False),
        r("tools.example.org", "v1", "wodgets", ("wdg", "wd")),
        r("more.example.org", "v1", "wadgets", ("wdg",)),
        r("", "v1", "wds", ("xx",)),
    ]


def test_a_short_name_of_several_groups_names_the_others_once_in_discovery_order() -> None:
    rs = _claimants()
    assert shadowed_short_names(rs, "wdg") == [
        "wodgets.tools.example.org",
        "wadgets.more.example.org",
    ]
    assert shadowed_short_names(rs, "WDG") == shadowed_short_names(rs, "wdg")
    assert shadowed_short_names(rs, "wd") == []  # one claimant
    assert shadowed_short_names(rs, "wdg.parity.scipian.io") == []  # the group decides
    assert shadowed_short_names(rs, "widgets") == []  # a name, not a short name
    assert shadowed_short_names(rs, "wd" + "s") == []


def test_the_resolver_warns_once_per_type_argument_unless_asked_again() -> None:
    warnings: list[str] = []
    resolver = Resolver(None, lambda path, accept: {}, warn=warnings.append)
    resolver._resources = _claimants()  # discovery as fetched
    assert [r.name for r in resolver.resolve("wdg")] == ["widgets"]
    resolver.resolve("wdg")
    assert warnings == [
        'short name "wdg" could also match lower priority resource wodgets.tools.example.org',
        'short name "wdg" could also match lower priority resource wadgets.more.example.org',
    ]
    resolver.resolve("wdg", warn_again=True)
    assert len(warnings) == 4

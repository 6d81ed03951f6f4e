"""Several environments in one command: names and groups, flags, joining the outputs."""

from __future__ import annotations

import io
import json

import pytest

from kubectl_scipian import cli
from kubectl_scipian.errors import ConfigError
from kubectl_scipian.fanout import flags, merge, selection
from kubectl_scipian.fanout.merge import EnvResult


def no_all() -> list[str]:
    raise AssertionError("@all must not be asked for")


def test_resolve_names_and_groups() -> None:
    groups = {"team-a": ["dev", "prod"], "one": ["qa"]}
    assert selection.resolve("dev,prod", groups, no_all) == ["dev", "prod"]
    assert selection.resolve("prod,@team-a,@one", groups, no_all) == ["prod", "dev", "qa"]
    assert selection.resolve("@all,dev", groups, lambda: ["a", "dev"]) == ["a", "dev"]
    with pytest.raises(selection.SelectionError, match="unknown group '@nope'"):
        selection.resolve("@nope", groups, no_all)
    with pytest.raises(selection.SelectionError, match="empty environment name"):
        selection.resolve("dev,,prod", groups, no_all)
    with pytest.raises(ConfigError, match="list of names"):
        selection.resolve("@bad", {"bad": "dev"}, no_all)
    with pytest.raises(ConfigError, match="groups"):
        selection.config_groups({"groups": ["dev"]})
    assert selection.config_groups({}) == {}


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["pods"], ""),
        (["pods", "-o", "json"], "json"),
        (["pods", "-oyaml"], "yaml"),
        (["pods", "-o=wide"], "wide"),
        (["pods", "--output=json", "-o", "yaml"], "yaml"),
        (["pods", "--", "-o", "json"], ""),
        (["pods", "-o", "custom-columns=N:.metadata.name"], "custom-columns=N:.metadata.name"),
    ],
)
def test_output_format(argv: list[str], value: str) -> None:
    assert flags.output_format(argv) == value


def test_with_output_replaces_every_output_flag() -> None:
    got = flags.with_output(["pods", "-o", "yaml", "-A", "--output=json", "-oyaml"], "json")
    assert got == ["pods", "-A", "-o", "json"]
    assert flags.has_flag(["-f"], "-f") and not flags.has_flag(["--follow=false"], "--follow")


def test_join_tables_puts_env_first_and_one_table_per_kind() -> None:
    pods = [["NAME", "READY"], ["a", "1/1"]]
    deploys = [["NAME", "AGE"], ["web", "1m"]]
    results = [EnvResult("dev", tables=[pods, deploys]), EnvResult("prod", tables=[pods])]
    assert merge.join_tables(results, no_headers=False) == [
        [["ENV", "NAME", "READY"], ["dev", "a", "1/1"], ["prod", "a", "1/1"]],
        [["ENV", "NAME", "AGE"], ["dev", "web", "1m"]],
    ]
    bare = [EnvResult("dev", tables=[[["a", "1/1"]]]), EnvResult("prod", tables=[[["b", "0/1"]]])]
    assert merge.join_tables(bare, no_headers=True) == [[["dev", "a", "1/1"], ["prod", "b", "0/1"]]]


def test_join_objects_annotates_each_item() -> None:
    listed = {"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "a"}}]}
    single = {"kind": "Pod", "metadata": {"name": "b", "annotations": {"x": "y"}}}
    doc = merge.join_objects(
        [
            EnvResult("dev", stdout=json.dumps(listed).encode()),
            EnvResult("prod", stdout=json.dumps(single).encode()),
            EnvResult("qa", stdout=b""),
        ]
    )
    assert doc["kind"] == "List"
    assert [i["metadata"]["annotations"] for i in doc["items"]] == [
        {merge.ANNOTATION: "dev"},
        {"x": "y", merge.ANNOTATION: "prod"},
    ]


def test_error_lines_are_prefixed() -> None:
    denied = EnvResult("prod", error="Invalid authentication for provided environment.")
    assert merge.error_lines(denied, drop_no_resources=True) == [
        "prod: Invalid authentication for provided environment."
    ]
    quiet = EnvResult("dev", stderr="No resources found in x namespace.\nError from server: no\n")
    assert merge.error_lines(quiet, drop_no_resources=True) == ["dev: Error from server: no"]
    assert denied.failed and not EnvResult("ok").failed and EnvResult("x", status=1).failed


def test_cli_routes_several_environments() -> None:
    for spec in ("dev,prod", "@team-a", "@all"):
        got = cli.parse([spec, "get", "pods", "-A"], io.StringIO())
        assert (got.command, got.env_id, got.verb, got.args) == (
            "fanout",
            spec,
            "get",
            ["pods", "-A"],
        )
    assert cli.parse(["dev", "get", "pods"], io.StringIO()).command == "read"

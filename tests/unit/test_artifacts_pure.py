"""Chart uploads' pure parts: the in-memory archive inspection and the lifetime rule."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import datetime, timedelta, timezone

import pytest

from scipian_backend.artifacts.inspect import InvalidChart, TooLarge, check_schema, inspect
from scipian_backend.artifacts.routes import parse_through
from scipian_backend.artifacts.store import Stored, expired
from scipian_backend.errors import BadRequest

CHART = b"apiVersion: v2\nname: web\nversion: 1.2.3\n"
MIB = 1024 * 1024


def tgz(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def test_name_and_version() -> None:
    info = inspect(tgz({"web/Chart.yaml": CHART, "web/values.yaml": b""}), MIB)
    assert (info.name, info.version) == ("web", "1.2.3")


def test_a_bomb_is_refused_while_inflating() -> None:
    bomb = tgz({"web/Chart.yaml": CHART, "web/big": b"\0" * (12 * MIB)})
    assert len(bomb) < 100_000
    with pytest.raises(TooLarge):
        inspect(bomb, 10 * MIB)


def test_subchart_archives_share_the_budget() -> None:
    inner = tgz({"sub/Chart.yaml": b"apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                 "sub/big": b"\0" * (6 * MIB)})  # fmt: skip
    outer = tgz(
        {"web/Chart.yaml": CHART, "web/big": b"\0" * (5 * MIB), "web/charts/sub.tgz": inner}
    )
    assert inspect(outer, 12 * MIB).name == "web"
    with pytest.raises(TooLarge):
        inspect(outer, 10 * MIB)


def test_a_subchart_schema_is_checked() -> None:
    schema = json.dumps({"$ref": "https://example.test/s.json"}).encode()
    inner = tgz({"sub/Chart.yaml": b"apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                 "sub/values.schema.json": schema})  # fmt: skip
    with pytest.raises(InvalidChart, match=r"\$ref leaves"):
        inspect(tgz({"web/Chart.yaml": CHART, "web/charts/sub.tgz": inner}), MIB)


@pytest.mark.parametrize(
    ("files", "links", "why"),
    [
        ({"web/values.yaml": b""}, None, "no Chart.yaml"),
        ({"web/Chart.yaml": CHART, "other/x": b""}, None, "one directory"),
        ({"web/Chart.yaml": CHART, "web/../../etc/x": b""}, None, "outside"),
        ({"/web/Chart.yaml": CHART}, None, "absolute"),
        ({"web/Chart.yaml": CHART}, {"web/templates/x.yaml": "/etc/passwd"}, "link"),
        ({"web/Chart.yaml": b"name: [\n"}, None, "not YAML"),
        ({"web/Chart.yaml": b"apiVersion: v2\nname: web\n"}, None, "no name or version"),
        ({"web/Chart.yaml": CHART, "web/charts/sub.tgz": b"not gzip"}, None, "not gzip"),
    ],
    ids=[
        "no-chart-yaml",
        "two-roots",
        "dotdot",
        "absolute",
        "symlink",
        "bad-yaml",
        "no-version",
        "subchart-not-gzip",
    ],
)
def test_refused_archives(files: dict[str, bytes], links: dict[str, str] | None, why: str) -> None:
    with pytest.raises(InvalidChart, match=why):
        inspect(tgz(files, links), MIB)


@pytest.mark.parametrize(
    "data",
    [
        b"plain text",
        gzip.compress(b"not a tar archive at all" * 40),
        tgz({"a/Chart.yaml": CHART})[:-20],
    ],
    ids=["not-gzip", "not-tar", "truncated"],
)
def test_not_an_archive(data: bytes) -> None:
    with pytest.raises(InvalidChart):
        inspect(data, MIB)


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/definitions/a", "definitions": {"a": {"type": "string"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "$dynamicRef": "#meta"},
    ],
    ids=["local-ref", "draft-07", "2020-12-dynamic"],
)
def test_schemas_that_stay_inside(schema: object) -> None:
    check_schema(json.dumps(schema).encode(), "values.schema.json")


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.test/schema.json"},
        {"$ref": "file:///etc/passwd"},
        {"$ref": "other.json#/a"},
        {"properties": {"a": {"items": [{"$ref": "/etc/hostname"}]}}},
        {"$dynamicRef": "http://example.test/x"},
        {"$schema": "http://attacker.test/meta"},
        {"$ref": 3},
    ],
    ids=["http", "file", "relative", "nested", "dynamic", "schema", "not-a-string"],
)
def test_schemas_that_leave(schema: object) -> None:
    with pytest.raises(InvalidChart):
        check_schema(json.dumps(schema).encode(), "values.schema.json")


def test_schema_not_json() -> None:
    with pytest.raises(InvalidChart, match="not JSON"):
        check_schema(b"{", "values.schema.json")


NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
DIGEST = "sha256:" + "a" * 64


def _stored(age: timedelta) -> Stored:
    return Stored(DIGEST, "web", "1.0.0", 10, "h", NOW - age)


def _promo(phase: str | None, finished: datetime | None = None, digest: str = DIGEST) -> dict:  # type: ignore[type-arg]
    status: dict[str, object] = {"phase": phase} if phase else {}
    if finished is not None:
        status["steps"] = [{"finishedAt": finished.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    return {"spec": {"chart": {"digest": digest}}, "status": status}


def test_unreferenced_archives_live_an_hour() -> None:
    assert not expired(_stored(timedelta(minutes=59)), [], NOW)
    assert expired(_stored(timedelta(minutes=60)), [], NOW)
    other = _promo("Running", digest="sha256:" + "b" * 64)
    assert expired(_stored(timedelta(hours=2)), [other], NOW)


def test_used_archives_live_while_used_and_a_day_after() -> None:
    old = _stored(timedelta(days=10))
    assert not expired(old, [_promo("Running")], NOW)
    assert not expired(old, [_promo(None)], NOW)
    assert not expired(old, [_promo("Succeeded", NOW - timedelta(hours=23))], NOW)
    assert expired(old, [_promo("Failed", NOW - timedelta(hours=24))], NOW)
    # The last use counts: one finished long ago, one recently.
    both = [
        _promo("Succeeded", NOW - timedelta(days=5)),
        _promo("Cancelled", NOW - timedelta(hours=1)),
    ]
    assert not expired(old, both, NOW)
    assert not expired(old, [*both, _promo("AwaitingApproval")], NOW + timedelta(days=3))


def test_lifetimes_by_flag() -> None:
    assert expired(_stored(timedelta(seconds=2)), [], NOW, unreferenced=timedelta(seconds=1))


@pytest.mark.parametrize(
    "text", ["", "dev,", "Dev", "dev,dev", ",".join(f"e{i}" for i in range(11)), "a b"]
)
def test_through_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_through(text, 10)


def test_through() -> None:
    assert parse_through("dev,staging,prod", 10) == ["dev", "staging", "prod"]

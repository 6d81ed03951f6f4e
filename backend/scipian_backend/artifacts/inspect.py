"""An uploaded chart archive, inspected in memory (pure; change.md §5 "Upload").

Nothing is extracted to disk. The gzip stream is inflated a bounded chunk at a time and
every byte it yields (tar headers included) counts against one budget shared with every
subchart archive (charts/*.tgz) inside it, so a bomb is refused after `max_decompressed`
bytes, never inflated whole. Entries must be regular files or directories under one top
directory, without `..` or absolute paths. Every values.schema.json (the chart's and its
subcharts') must be JSON whose `$ref` and `$dynamicRef` stay inside the document (`#…`)
and whose `$schema` names a JSON Schema draft helm knows without fetching it: a schema
pointing outside the archive would make helm read a URL or a local file of the backend.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from typing import Any

import yaml

CHUNK = 64 * 1024
MAX_NESTING = 5  # subchart archives inside subchart archives
MAX_SCHEMA_DEPTH = 64
SCHEMA_KEYWORDS = ("$ref", "$dynamicRef")
# The metaschemas helm's validator carries itself (no fetch): draft-04 to 2020-12.
KNOWN_SCHEMAS = frozenset(
    f"{scheme}://json-schema.org/{draft}{tail}"
    for scheme in ("http", "https")
    for draft in (
        "draft-04/schema",
        "draft-06/schema",
        "draft-07/schema",
        "draft/2019-09/schema",
        "draft/2020-12/schema",
    )
    for tail in ("", "#")
)


class InvalidChart(ValueError):
    """Not a chart archive the backend accepts; the message says why in one line."""


class TooLarge(InvalidChart):
    """Inflates past the budget."""


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise TooLarge(f"the archive inflates to more than {self.limit} bytes")


class _Inflater(io.RawIOBase):
    """A gzip stream (concatenated members too, as Go reads them) read as a file,
    inflating at most what is asked for, every byte counted."""

    def __init__(self, data: bytes, budget: _Budget) -> None:
        self._pending = data
        self._budget = budget
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        want = min(len(buf), CHUNK)
        while True:
            if self._z.eof:
                rest = self._z.unused_data
                if not rest:
                    return 0
                if rest[:2] != b"\x1f\x8b":
                    raise InvalidChart("the archive has data after its gzip stream")
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = rest
            source = self._z.unconsumed_tail or self._pending
            self._pending = b""
            try:
                out = self._z.decompress(source, want)
            except zlib.error:
                raise InvalidChart("the archive is not a gzip stream") from None
            if out:
                self._budget.take(len(out))
                buf[: len(out)] = out
                return len(out)
            if not source and not self._z.eof:
                raise InvalidChart("the archive's gzip stream is truncated")


def inspect(data: bytes, max_decompressed: int) -> ChartInfo:
    """The chart's name and version from its Chart.yaml; InvalidChart (TooLarge) otherwise."""
    if data[:2] != b"\x1f\x8b":
        raise InvalidChart("the archive is not gzip")
    return _inspect(data, _Budget(max_decompressed), 0)


def _inspect(data: bytes, budget: _Budget, nesting: int) -> ChartInfo:
    if nesting > MAX_NESTING:
        raise InvalidChart(f"subchart archives nest deeper than {MAX_NESTING}")
    raw = io.BufferedReader(_Inflater(data, budget), CHUNK)
    chart_yaml: bytes | None = None
    root = ""
    try:
        with tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                parts = _parts(member.name)
                if not root:
                    root = parts[0]
                elif parts[0] != root:
                    raise InvalidChart("the archive's entries are not under one directory")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InvalidChart(f"the archive holds a link or device: {_shown(member)}")
                f = tar.extractfile(member)
                content = f.read() if f is not None else b""
                rel = parts[1:]
                if rel == ["Chart.yaml"]:
                    chart_yaml = content
                if rel and rel[-1] == "values.schema.json":
                    check_schema(content, "/".join(parts))
                if len(rel) == 2 and rel[0] == "charts" and rel[1].endswith((".tgz", ".tar.gz")):
                    if content[:2] != b"\x1f\x8b":
                        raise InvalidChart(f"subchart archive {_shown(member)} is not gzip")
                    _inspect(content, budget, nesting + 1)
    except tarfile.TarError:
        raise InvalidChart("the archive is not a tar archive") from None
    if chart_yaml is None:
        raise InvalidChart("the archive has no Chart.yaml")
    return _metadata(chart_yaml)


def _parts(name: str) -> list[str]:
    if name.startswith("/") or "\\" in name:
        raise InvalidChart("the archive holds an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidChart("the archive holds a path outside its directory")
    return parts


def _shown(member: tarfile.TarInfo) -> str:
    return json.dumps(member.name[:100])


def _metadata(text: bytes) -> ChartInfo:
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raise InvalidChart("Chart.yaml is not YAML") from None
    if not isinstance(doc, dict):
        raise InvalidChart("Chart.yaml is not a mapping")
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
        raise InvalidChart("Chart.yaml has no name or version")
    return ChartInfo(name, version)


def check_schema(content: bytes, where: str) -> None:
    """A values.schema.json whose references stay inside the document."""
    try:
        doc = json.loads(content)
    except RecursionError:
        raise InvalidChart(f"{where} nests too deep") from None
    except ValueError:
        raise InvalidChart(f"{where} is not JSON") from None
    todo: list[tuple[Any, int]] = [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidChart(f"{where} nests deeper than {MAX_SCHEMA_DEPTH} levels")
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SCHEMA_KEYWORDS and not (
                    isinstance(value, str) and value.startswith("#")
                ):
                    raise InvalidChart(f"{where}: {key} leaves the archive")
                if key == "$schema" and value not in KNOWN_SCHEMAS:
                    raise InvalidChart(f"{where}: $schema is not a JSON Schema draft helm knows")
                todo.append((value, depth + 1))
        elif isinstance(node, list):
            todo.extend((v, depth + 1) for v in node)

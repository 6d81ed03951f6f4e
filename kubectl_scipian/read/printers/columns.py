"""`-o custom-columns=HEADER:expr,...` and `--sort-by` (kubectl's order)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from kubectl_scipian.read.errors import UsageError
from kubectl_scipian.read.printers.jsonpath import Template, compile_template
from kubectl_scipian.read.printers.table import go_sprint

_BAD_PATH = (
    "error: unexpected path string, expected a 'name1.name2' or '.name1.name2' "
    "or '{name1.name2}' or '{.name1.name2}'"
)
_RELAXED = re.compile(r"^\{?(\.?[^{}]*)\}?$")


def relaxed(expr: str) -> str:
    """kubectl's RelaxedJSONPathExpression: `.a.b`, `a.b` and `{.a.b}` all mean `{.a.b}`."""
    if not expr:
        return expr
    m = _RELAXED.match(expr)
    if not m:
        raise UsageError(_BAD_PATH)
    inner = m.group(1)
    if not inner.startswith("."):
        inner = "." + inner
    return "{" + inner + "}"


class Column(NamedTuple):
    header: str
    template: Template


def parse_spec(spec: str) -> list[Column]:
    if not spec:
        raise UsageError("error: custom-columns format specified but no custom columns given")
    cols = []
    for part in spec.split(","):
        header, sep, expr = part.partition(":")
        if not sep:
            raise UsageError(
                f"error: unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
            )
        cols.append(Column(header, compile_template(relaxed(expr))))
    return cols


def _cell(v: Any) -> str:
    return v if isinstance(v, str) else go_sprint(v)


def row(columns: Sequence[Column], obj: Any) -> list[str]:
    out = []
    for c in columns:
        values = c.template.values(obj)
        if not values or not values[0]:
            out.append("<none>")
        else:
            out.append(",".join(_cell(v) for v in values[0]))
    return out


class _Key:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Key) -> bool:
        a, b = self.v, other.v
        if a is None or b is None:
            return a is None and b is not None
        # kubectl 1.36 compares strings bytewise (sorter.go isLess; no natural order): for
        # UTF-8, code point order is byte order.
        if isinstance(a, str) and isinstance(b, str):
            return a < b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return go_sprint(a) < go_sprint(b)


def sort_key(expr: str) -> Any:
    template = compile_template(relaxed(expr))

    def key(obj: Any) -> _Key:
        values = template.values(obj)
        return _Key(values[0][0] if values and values[0] else None)

    return key

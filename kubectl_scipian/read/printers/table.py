"""Printing the server's `meta.k8s.io/v1` Tables as kubectl does (cli-runtime tableprinter)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from kubectl_scipian.read.printers.tabwriter import format_lines

_BREAK = re.compile(r"[\f\n\r]")
# cli-runtime WriteEscaped: terminal control characters are shown, not sent
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TableOptions(NamedTuple):
    wide: bool = False
    with_namespace: bool = False
    kind_prefix: str = ""  # "pod", "deployment.apps" when several kinds are printed
    show_labels: bool = False
    label_columns: tuple[str, ...] = ()
    no_headers: bool = False


def go_sprint(value: Any) -> str:
    """fmt.Sprint of a JSON-decoded value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        m = _BREAK.search(value)
        text = value[: m.start()] + "..." if m else value
    else:
        text = go_sprint(value)
    return _CONTROL.sub(lambda c: "^" + chr(ord(c.group()) ^ 0x40), text)


def label_header(key: str) -> str:
    return key.rsplit("/", 1)[-1].upper()


def format_labels(labels: dict[str, str] | None) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class TableBuffer:
    """The rows of one kind's tables (several chunks, one header)."""

    def __init__(self, options: TableOptions) -> None:
        self.options = options
        self.header: list[str] | None = None
        self.rows: list[list[str]] = []
        self._columns: list[int] = []
        self._name_col = -1

    def add(self, table: dict[str, Any]) -> None:
        opts = self.options
        if self.header is None:
            defs = table.get("columnDefinitions") or []
            self._columns = [i for i, c in enumerate(defs) if opts.wide or not c.get("priority", 0)]
            for i in self._columns:
                if defs[i].get("format") == "name" and defs[i].get("type") == "string":
                    self._name_col = i
                    break
            header = [str(defs[i].get("name", "")).upper() for i in self._columns]
            if opts.with_namespace:
                header.insert(0, "NAMESPACE")
            header += [label_header(k) for k in opts.label_columns]
            if opts.show_labels:
                header.append("LABELS")
            self.header = header
        for row in table.get("rows") or []:
            self.rows.append(self._row(row))

    def _row(self, row: dict[str, Any]) -> list[str]:
        opts = self.options
        cells = row.get("cells") or []
        meta = (row.get("object") or {}).get("metadata") or {}
        out = []
        if opts.with_namespace:
            out.append(cell_text(meta.get("namespace", "")))
        for i in self._columns:
            text = cell_text(cells[i]) if i < len(cells) else ""
            if i == self._name_col and opts.kind_prefix:
                text = f"{opts.kind_prefix}/{text}"
            out.append(text)
        labels = meta.get("labels") or {}
        out += [labels.get(k, "") for k in opts.label_columns]
        if opts.show_labels:
            out.append(format_labels(labels))
        return out

    def lines(self) -> list[list[str]]:
        if not self.rows:
            return []
        if self.options.no_headers or self.header is None:
            return list(self.rows)
        return [self.header, *self.rows]


def render(lines: Sequence[Sequence[str]]) -> str:
    return format_lines(lines, 6, 3)

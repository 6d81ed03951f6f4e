"""Server warnings (`Warning: 299 - "..."` response headers) on stderr, as kubectl prints them.

client-go parses every response's Warning headers (apimachinery's ParseWarningHeaders) and
hands them to kubectl's handler: code 299 only, `Warning: <text>` on stderr, each text once
per run, the word in bold yellow when stderr is a colour terminal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, NamedTuple, TextIO

_CODE = re.compile(r"^[0-9]{3}$")
YELLOW, RESET = "\x1b[33;1m", "\x1b[0m"


class ServerWarning(NamedTuple):
    code: int
    agent: str
    text: str


def _quoted(s: str) -> tuple[str, str] | None:
    """parseQuotedString: (text, the rest trimmed), None when the quote is not closed."""
    if not s.startswith('"'):
        return None
    out: list[str] = []
    escaping = False
    for i, c in enumerate(s[1:], 1):
        if c == '"' and not escaping:
            return "".join(out), s[i + 1 :].strip()
        if c == "\\" and not escaping:
            escaping = True
            continue
        out.append(c)
        escaping = False
    return None


def _control(s: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in s)


def parse_one(header: str) -> tuple[ServerWarning, str] | None:
    """ParseWarningHeader: one warning and what follows it; None when malformed."""
    parts = header.strip().split(" ", 2)
    if len(parts) != 3 or not _CODE.match(parts[0]) or not parts[1] or _control(parts[1]):
        return None
    code, agent, rest = parts
    quoted = _quoted(rest)
    if quoted is None or _control(quoted[0]):
        return None
    text, rest = quoted
    if rest.startswith('"'):  # the optional warn-date
        end = rest.find('"', 1)
        if end < 0:
            return None
        rest = rest[end + 1 :].strip()
    if rest:
        if not rest.startswith(","):
            return None
        rest = rest[1:].strip()
    return ServerWarning(int(code), agent, text), rest


def parse(headers: Iterable[str]) -> list[ServerWarning]:
    """ParseWarningHeaders: a malformed warning drops the rest of its header line."""
    found: list[ServerWarning] = []
    for header in headers:
        while header:
            one = parse_one(header)
            if one is None:
                break
            found.append(one[0])
            header = one[1]
    return found


def header_values(headers: Any) -> list[str]:
    """Every `Warning` header line of a urllib3 (or plain mapping) header set."""
    if headers is None:
        return []
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return [str(v) for v in getlist("Warning")]
    value = headers.get("Warning") if hasattr(headers, "get") else None
    return [str(value)] if value else []


def allows_color(stream: TextIO) -> bool:
    """printers.AllowsColorOutput: a terminal, TERM not dumb, NO_COLOR unset."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ


class WarningWriter:
    """rest.NewWarningWriter(stderr, Deduplicate: true, Color: AllowsColorOutput(stderr))."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._color = allows_color(stream)
        self._written: set[str] = set()

    def handle(self, headers: Any) -> None:
        for w in parse(header_values(headers)):
            if w.code != 299 or not w.text or w.text in self._written:
                continue
            self._written.add(w.text)
            if self._color:
                self._stream.write(f"{YELLOW}Warning:{RESET} {w.text}\n")
            else:
                self._stream.write(f"Warning: {w.text}\n")

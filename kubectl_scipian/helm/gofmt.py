"""What Helm's Go prints with: time.Time's layouts, encoding/json, gosuri/uitable (pure).

Release times arrive as Helm stored them, RFC 3339 with nanoseconds in the offset of the
machine that wrote them; Go formats them in that same offset, so they are formatted here
from their parts, never converted to this machine's zone.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import unicodedata
from typing import Any, NamedTuple

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[-+]\d{2}:\d{2})$"
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class GoTime(NamedTuple):
    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanos: str  # the fraction's digits, trailing zeros dropped ("" for none)
    offset: int  # seconds east of UTC
    utc: bool  # written as "Z"

    @property
    def unix(self) -> int:
        fields = (self.year, self.month, self.day, self.hour, self.minute, self.second)
        return calendar.timegm((*fields, 0, 0, 0)) - self.offset


def parse(text: object) -> GoTime | None:
    """A stored time, or None when absent or Go's zero time."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac, zone = (m.group(7) or "").rstrip("0"), m.group(8)
    if zone in ("Z", "z"):
        offset, utc = 0, True
    else:
        sign = -1 if zone[0] == "-" else 1
        offset, utc = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60), False
    t = GoTime(y, mo, d, h, mi, s, frac, offset, utc)
    return None if (y, mo, d, h, mi, s, frac) == (1, 1, 1, 0, 0, 0, "") else t


def ansic(t: GoTime) -> str:
    """time.ANSIC: "Mon Jan _2 15:04:05 2006"."""
    weekday = calendar.weekday(t.year, t.month, t.day)
    return (
        f"{_DAYS[weekday]} {_MONTHS[t.month - 1]} {t.day:>2} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} {t.year}"
    )


def string(t: GoTime) -> str:
    """time.Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST"."""
    frac = f".{t.nanos}" if t.nanos else ""
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f"{frac} {_numeric(t.offset, '')} {_zone_name(t)}"
    )


def rfc3339nano(t: GoTime) -> str:
    """What encoding/json writes for a time.Time (RFC3339Nano; "Z" for a zero offset)."""
    frac = f".{t.nanos}" if t.nanos else ""
    zone = "Z" if t.offset == 0 else _numeric(t.offset, ":")
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f"{frac}{zone}"
    )


def _numeric(offset: int, colon: str) -> str:
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}{colon}{minutes:02d}"


def _zone_name(t: GoTime) -> str:
    """Go's zone abbreviation after parsing: UTC for "Z"; Local's name when the offset is
    Local's at that instant; else the numeric offset (a fabricated, unnamed zone)."""
    if t.utc:
        return "UTC"
    local = time.localtime(t.unix)
    if local.tm_gmtoff == t.offset and local.tm_zone:
        return local.tm_zone
    return _numeric(t.offset, "")


# --- encoding/json -----------------------------------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_GO_ESCAPES["\u2029"] = "\\u2029"
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def go_json(obj: Any) -> str:
    """json.NewEncoder(out).Encode(obj): compact, HTML-safe, a newline after."""
    from kubectl_scipian.support.untrusted import json_escaped

    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # Beyond Go: C1 and bidi characters of a record escaped too (the same JSON value).
    return json_escaped(_GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group()], text)) + "\n"


# --- gosuri/uitable ----------------------------------------------------------------------


def width(s: str) -> int:
    """go-runewidth's StringWidth, for the characters a release table holds."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def uitable(rows: list[list[str]]) -> str:
    """uitable.New() with rows added, then EncodeTable: every cell (the last included)
    padded to its column's width, cells joined by a tab, rows by newlines, one more
    newline at the end."""
    if not rows:
        return "\n"
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row):
            if i == len(widths):
                widths.append(0)
            widths[i] = max(widths[i], max(width(line) for line in cell.split("\n")))
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"

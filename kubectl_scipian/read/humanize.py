"""Go helpers the describers print with: HumanDuration, camelcase labels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def _now() -> datetime:
    return datetime.now(timezone.utc)


# What "now" is when an age is printed: the one clock of the read commands, so that the
# recorded-output tests (tests/read_recordings.py) can replay a recording at its moment.
clock: Callable[[], datetime] = _now


def human_duration(seconds_f: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    seconds = int(seconds_f)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def since(text: str | None, now: datetime | None = None) -> str:
    """translateTimestampSince: `<unknown>` for a zero time."""
    t = parse_time(text)
    if t is None:
        return "<unknown>"
    return human_duration(((now or clock()) - t).total_seconds())


def _class(c: str) -> int:
    if c.islower():
        return 1
    if c.isupper():
        return 2
    if c.isdigit():
        return 3
    return 4


def camel_split(src: str) -> list[str]:
    """github.com/fatih/camelcase Split."""
    runs: list[list[str]] = []
    last = 0
    for c in src:
        cls = _class(c)
        if cls == last and runs:
            runs[-1].append(c)
        else:
            runs.append([c])
        last = cls
    for i in range(len(runs) - 1):
        if runs[i] and runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(r) for r in runs if r]


ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}


def smart_label(field: str) -> str:
    """kubectl describe's smartLabelFor: `apiVersion` → `API Version`."""
    if any(not (c.isalpha() or c == "-") for c in field):
        return field
    parts = []
    for part in camel_split(field):
        if part == "_":
            continue
        parts.append(part.upper() if part.upper() in ACRONYMS else part[:1].upper() + part[1:])
    return " ".join(parts)

"""Progress of a promotion being watched, on stderr: a line per change, or, on a
terminal, the steps' table redrawn in place. Fed with the Promotion after every answer of
the long poll. Every message shown is the backend's classified reason (change.md §5)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TextIO

from kubectl_scipian.promotions import printers
from kubectl_scipian.support.untrusted import visible

CLEAR_LINE = "\x1b[2K"


def up(n: int) -> str:
    return f"\x1b[{n}A" if n else ""


State = dict[str, tuple[str, ...]]  # env (or "" for the promotion) → what a line shows


def state_of(promo: dict[str, Any]) -> State:
    out: State = {}
    for step in printers.steps(promo):
        out[str(step.get("environment", ""))] = (
            str(step.get("phase", "")),
            printers.approvals_text(step),
            printers.one_line(step.get("message")),
        )
    status = promo.get("status") if isinstance(promo.get("status"), dict) else {}
    out[""] = (printers.phase_of(promo), printers.one_line((status or {}).get("message")))
    return out


def change_lines(name: str, before: State, promo: dict[str, Any]) -> list[str]:
    """The lines for what changed since `before` (pure): a step's phase, approvals or
    reason; then the promotion's own phase once it changes."""
    now = state_of(promo)
    lines = []
    for step in printers.steps(promo):
        env = str(step.get("environment", ""))
        if before.get(env) == now[env]:
            continue
        phase, approvals, message = now[env]
        if env not in before and phase == "Pending" and not message:
            continue  # the steps still ahead
        extra = []
        if phase == "AwaitingApproval" and approvals:
            extra.append(f"approvals {approvals}")
        if phase == "Succeeded" and isinstance(step.get("revision"), int):
            extra.append(f"revision {step['revision']}")
        if message:
            extra.append(message)
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(visible(f"{env}: {phase}{tail}"))
    if before.get("") != now[""] and now[""][0] and now[""][0] not in ("Running",):
        phase, message = now[""]
        if phase != "AwaitingApproval":
            tail = f": {message}" if message else ""
            lines.append(visible(f"promotion {name}: {phase}{tail}"))
    return lines


class Progress:
    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._seen: State = {}
        self._drawn = 0  # lines of the live table on screen
        self._last: dict[str, Any] | None = None  # the promotion the table shows

    def update(self, promo: dict[str, Any]) -> None:
        """Print what changed since the last update (the live table: redraw it)."""
        name = str((promo.get("metadata") or {}).get("name", ""))
        lines = change_lines(name, self._seen, promo)
        self._seen = state_of(promo)
        self._last = promo
        if self.live:
            if lines or not self._drawn:
                self._redraw(promo)
            return
        for line in lines:
            print(line, file=self.out, flush=True)

    def say(self, line: str) -> None:
        """A line of its own (a hint, a warning), above the live table (redrawn below it)."""
        self._clear()
        print(line, file=self.out, flush=True)
        if self.live and self._last is not None:
            self._redraw(self._last)

    def _clear(self) -> None:
        if self.live and self._drawn:
            self.out.write(up(self._drawn) + "\r")
            for _ in range(self._drawn):
                self.out.write(CLEAR_LINE + "\n")
            self.out.write(up(self._drawn))
            self._drawn = 0

    def _redraw(self, promo: dict[str, Any]) -> None:
        text = printers.summary_table(promo, datetime.now(timezone.utc))
        lines = text.splitlines()
        self.out.write(up(self._drawn) + "\r")
        for line in lines:
            self.out.write(CLEAR_LINE + line + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def finish(self) -> None:
        """Clear the live table: the summary on stdout repeats it."""
        self._clear()

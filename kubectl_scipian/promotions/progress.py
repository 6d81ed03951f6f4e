"""Progress of a running promotion on stderr: a line per phase change, or, on a terminal,
the steps' table redrawn in place. Fed with the Promotion after every backend answer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TextIO

from kubectl_scipian.promotions import printers
from kubectl_scipian.support.untrusted import visible

CLEAR_LINE = "\x1b[2K"


def up(n: int) -> str:
    return f"\x1b[{n}A" if n else ""


class Progress:
    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._seen: dict[str, tuple[str, str]] = {}
        self._drawn = 0  # lines of the live table on screen

    def update(self, promo: dict[str, Any], note: str = "") -> None:
        """Print what changed since the last update (the live table: redraw it)."""
        changes = []
        for step in printers.steps(promo):
            env = str(step.get("environment", ""))
            now = (str(step.get("phase", "")), printers.one_line(step.get("message")))
            if self._seen.get(env) != now:
                if env in self._seen or now != ("Pending", ""):  # not the steps still ahead
                    changes.append((env, step, now))
                self._seen[env] = now
        if self.live:
            if changes or note:
                self._redraw(promo, note)
            return
        for env, step, (phase, message) in changes:
            extra = []
            if phase == "Succeeded" and isinstance(step.get("revision"), int):
                extra.append(f"revision {step['revision']}")
            if message:
                extra.append(message)
            tail = f" ({'; '.join(extra)})" if extra else ""
            print(visible(f"{env}: {phase}{tail}"), file=self.out, flush=True)
        if note:
            self.say(note)

    def say(self, line: str) -> None:
        """A line of its own (a hint, a warning), above the live table."""
        if self.live and self._drawn:
            self.out.write(up(self._drawn) + "\r")
            for _ in range(self._drawn):
                self.out.write(CLEAR_LINE + "\n")
            self.out.write(up(self._drawn))
            self._drawn = 0
        print(line, file=self.out, flush=True)

    def _redraw(self, promo: dict[str, Any], note: str) -> None:
        if note:
            self.say(note)
        text = printers.summary_table(promo, datetime.now(timezone.utc))
        lines = text.splitlines()
        self.out.write(up(self._drawn) + "\r")
        for line in lines:
            self.out.write(CLEAR_LINE + line + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def finish(self) -> None:
        """Leave the live table where it is (the summary follows on stdout)."""
        if self.live and self._drawn:
            self.say("")  # clears it: the summary repeats it

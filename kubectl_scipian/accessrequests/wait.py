"""`ENV request ... --wait`: the long poll (`GET /api/v1/accessrequests/NAME?watch=true&
resourceVersion=RV`, answered on every change) until a decision, with the request's state
on stderr: one line redrawn in place on a terminal, a plain line per change otherwise.

    Approved 0 · Denied, Expired, Cancelled, Revoked, Ended 1 · Ctrl-C 130 (the request
    stays: how to watch or cancel it is printed)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO

from kubectl_scipian.accessrequests import printers
from kubectl_scipian.accessrequests.api import RequestsApi
from kubectl_scipian.accessrequests.flags import EXIT_APPROVED, EXIT_DETACHED, EXIT_NOT_APPROVED
from kubectl_scipian.errors import BackendUnreachable
from kubectl_scipian.promotions.progress import CLEAR_LINE
from kubectl_scipian.promotions.watch import PAUSE, QUICK_ANSWER, resource_version


def exit_code(obj: dict[str, Any]) -> int | None:
    """The exit code of a decided request; None while it is Pending (pure)."""
    phase = printers.phase_of(obj)
    if phase in ("", "Pending"):
        return None
    return EXIT_APPROVED if phase == "Approved" else EXIT_NOT_APPROVED


def state_of(obj: dict[str, Any]) -> tuple[str, str]:
    """What a plain line changes on (not the countdown)."""
    return printers.phase_of(obj), printers.approvals_text(obj)


def use_line(obj: dict[str, Any]) -> str:
    env = printers.environment_of(obj)
    if printers.level_of(obj) == "deploy":
        return f"use it: kubectl scipian {env} kubeconfig --level deploy --reason TEXT --merge"
    return f"use it: kubectl scipian {env} get pods (or helm list, kubeconfig)"


def watch_line(name: str) -> str:
    return f"watch: kubectl scipian requests {name}"


def cancel_line(env: str, name: str) -> str:
    return f"cancel: kubectl scipian {env} request --cancel {name}"


class Status:
    """The request's line on stderr: redrawn in place (live) or printed when it changes."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self._seen: tuple[str, str] | None = None
        self._drawn = False

    def update(self, obj: dict[str, Any], now: datetime) -> None:
        line = printers.status_line(obj, now)
        if self.live:
            self.out.write("\r" + CLEAR_LINE + line)
            self.out.flush()
            self._drawn = True
            return
        state = state_of(obj)
        if state != self._seen:
            self._seen = state
            print(line, file=self.out, flush=True)

    def say(self, line: str) -> None:
        self.finish()
        print(line, file=self.out, flush=True)

    def finish(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


def until_decided(
    api: RequestsApi,
    obj: dict[str, Any],
    status: Status,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any] | None, int]:
    """(the request once decided, or None when its state is not known; the exit code)."""
    name, env = printers.name_of(obj), printers.environment_of(obj)
    try:
        while True:
            status.update(obj, datetime.now(timezone.utc))
            code = exit_code(obj)
            if code is not None:
                status.finish()
                return obj, code
            rv = resource_version(obj)
            asked = clock()
            obj = api.watch(name, rv)
            if resource_version(obj) == rv and clock() - asked < QUICK_ANSWER:
                sleep(PAUSE)
    except BackendUnreachable as err:
        status.say(f"error: {err}")
        status.say(watch_line(name))
        return None, EXIT_NOT_APPROVED
    except KeyboardInterrupt:
        status.say(f"detached: request {name} stays until decided")
        status.say(watch_line(name))
        status.say(cancel_line(env, name))
        return None, EXIT_DETACHED

"""Following a promotion the backend executes: the long poll (`GET
/api/v1/promotions/NAME?watch=true&resourceVersion=RV`, answered on every change) until it
finishes, with its progress on stderr and the exit codes of README "Promotions":

    Succeeded 0 · Failed 1 · stopped at an approval with --no-wait 3 · Cancelled 4 ·
    Ctrl-C 130 (the promotion goes on: how to watch or cancel it is printed)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubectl_scipian.errors import BackendUnreachable
from kubectl_scipian.promotions import printers
from kubectl_scipian.promotions.api import Api
from kubectl_scipian.promotions.flags import (
    EXIT_AWAITING_APPROVAL,
    EXIT_CANCELLED,
    EXIT_DETACHED,
    EXIT_FAILED,
    EXIT_SUCCEEDED,
)
from kubectl_scipian.promotions.progress import Progress

EXIT_OF = {"Succeeded": EXIT_SUCCEEDED, "Failed": EXIT_FAILED, "Cancelled": EXIT_CANCELLED}
# An answer with the same resourceVersion that came back at once (a backend that does not
# hold the poll): wait this long before asking again rather than spin.
QUICK_ANSWER, PAUSE = 1.0, 1.0


def exit_code(promo: dict[str, Any]) -> int | None:
    """The exit code of a finished promotion; None while it runs (pure)."""
    return EXIT_OF.get(printers.phase_of(promo))


def awaiting(promo: dict[str, Any]) -> str | None:
    """The environment the promotion waits at for approval: its first step not Succeeded,
    when that one awaits approval (a later step may be approved ahead; pure)."""
    current = next((s for s in printers.steps(promo) if s.get("phase") != "Succeeded"), None)
    if current is None or current.get("phase") != "AwaitingApproval":
        return None
    return str(current.get("environment"))


def resource_version(promo: dict[str, Any]) -> str:
    meta = promo.get("metadata")
    rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return rv if isinstance(rv, str) else ""


def watch_line(name: str) -> str:
    return f"watch: kubectl scipian promotions {name} --watch"


def cancel_line(name: str) -> str:
    return f"cancel: kubectl scipian cancel {name} --reason TEXT"


def approve_line(name: str, env: str) -> str:
    return (
        f"waiting for approval of {env}: kubectl scipian approve {name} --step {env} --reason TEXT"
    )


def follow(
    api: Api,
    promo: dict[str, Any],
    progress: Progress,
    *,
    no_wait: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any] | None, int]:
    """(the promotion as it ended, or None when its state is not known; the exit code)."""
    name = str(promo["metadata"]["name"])
    hinted: set[str] = set()
    try:
        while True:
            progress.update(promo)
            code = exit_code(promo)
            if code is not None:
                return promo, code
            env = awaiting(promo)
            if env is not None and env not in hinted:
                hinted.add(env)
                progress.say(approve_line(name, env))
            if no_wait and env is not None:
                progress.say(watch_line(name))
                return promo, EXIT_AWAITING_APPROVAL
            rv = resource_version(promo)
            asked = clock()
            promo = api.watch(name, rv)
            if resource_version(promo) == rv and clock() - asked < QUICK_ANSWER:
                sleep(PAUSE)
    except BackendUnreachable as err:
        progress.say(f"error: {err}")
        progress.say(watch_line(name))
        return None, EXIT_FAILED
    except KeyboardInterrupt:
        progress.say(f"detached: promotion {name} goes on, executed by the backend")
        progress.say(watch_line(name))
        progress.say(cancel_line(name))
        return None, EXIT_DETACHED


def to_end(api: Api, promo: dict[str, Any], ctx: Any, *, no_wait: bool = False) -> int:
    """Follow `promo` (progress on stderr), then its steps' table on stdout and, when it
    did not succeed, the backend's reason in one line."""
    name = checked_name(promo)
    progress = Progress(ctx.stderr, is_terminal(ctx.stderr))
    ended, code = follow(api, promo, progress, no_wait=no_wait)
    progress.finish()
    if ended is None:
        return code
    ctx.stdout.write(printers.summary_table(ended))
    status = ended.get("status") if isinstance(ended.get("status"), dict) else {}
    why = printers.one_line((status or {}).get("message", ""))
    if code == EXIT_FAILED:
        print(f"error: promotion {name} failed" + (f": {why}" if why else ""), file=ctx.stderr)
    elif code == EXIT_CANCELLED:
        print(f"promotion {name} cancelled" + (f": {why}" if why else ""), file=ctx.stderr)
    return code


def checked_name(promo: dict[str, Any]) -> str:
    """The name of a Promotion from the backend, checked before it goes into URL paths and
    the printed watch/cancel lines."""
    from kubectl_scipian.errors import BackendError
    from kubectl_scipian.promotions.api import PROMOTION_ANSWER
    from kubectl_scipian.promotions.flags import PROMOTION_NAME

    meta = promo.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or len(name) > 63 or not PROMOTION_NAME.fullmatch(name):
        raise BackendError(PROMOTION_ANSWER)
    return name


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

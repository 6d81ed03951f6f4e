"""`kubectl scipian login [--device-code] [--no-browser]`."""

from __future__ import annotations

import argparse

from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.support.timefmt import until


def run(args: argparse.Namespace, ctx: Context) -> int:
    wired = wiring.build(args, ctx, login_timeout=args.timeout)
    login = wired.auth.login(device=args.device_code, open_browser=not args.no_browser)
    who = login.email or login.subject
    refresh = "refreshable" if login.refresh_token else "not refreshable"
    print(
        f"Logged in to {wired.config.backend_url} as {who} "
        f"(id_token {until(login.expires_at, ctx.clock())}, {refresh}).",
        file=ctx.stderr,
    )
    return 0

"""`kubectl scipian envs`: the environments you may use and your cached credentials for each,
the read one and the deploy ones (one per reason)."""

from __future__ import annotations

import argparse

from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.support.timefmt import duration, until
from kubectl_scipian.support.untrusted import visible


def run(args: argparse.Namespace, ctx: Context) -> int:
    wired = wiring.build(args, ctx)
    login = wired.auth.valid_login(interactive=ctx.interactive)
    environments = wired.backend.environments(login.id_token)
    now = ctx.clock()
    rows = [("ENVIRONMENT", "DESCRIPTION", "TTL", "CACHED CREDENTIAL", "DEPLOY CREDENTIAL")]
    for env in environments:
        expiry = wired.credentials.cached_expiry(login, env.id)
        ttl = duration(env.ttl_seconds) if env.ttl_seconds else "-"
        read = until(expiry, now) if expiry else "none"
        description = visible(env.description) or "-"  # the backend's text: escaped
        rows.append((env.id, description, ttl, read, _deploy(wired, login, env.id, now)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        print("   ".join([*cells, row[4]]), file=ctx.stdout)
    if len(rows) == 1:
        print("(no environments: ask for access to one)", file=ctx.stderr)
    return 0


def _deploy(wired: wiring.Wiring, login: object, env_id: str, now: float) -> str:
    """The latest-expiring live deploy credential (and how many more, one per reason)."""
    user = getattr(login, "user", "")
    live = [e for e in wired.cache.deploy_expiries(user, env_id) if e > now]
    if not live:
        return "none"
    more = f" (+{len(live) - 1} more)" if len(live) > 1 else ""
    return until(live[-1], now) + more

"""`kubectl scipian envs`: the environments you may use and your cached credential for each."""

from __future__ import annotations

import argparse

from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.support.timefmt import duration, until


def run(args: argparse.Namespace, ctx: Context) -> int:
    wired = wiring.build(args, ctx)
    login = wired.auth.valid_login(interactive=ctx.interactive)
    environments = wired.backend.environments(login.id_token)
    now = ctx.clock()
    rows = [("ENVIRONMENT", "DESCRIPTION", "TTL", "CACHED CREDENTIAL")]
    for env in environments:
        expiry = wired.credentials.cached_expiry(login, env.id)
        ttl = duration(env.ttl_seconds) if env.ttl_seconds else "-"
        rows.append((env.id, env.description or "-", ttl, until(expiry, now) if expiry else "none"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        print("   ".join([*cells, row[3]]), file=ctx.stdout)
    if len(rows) == 1:
        print("(no environments: ask for access to one)", file=ctx.stderr)
    return 0

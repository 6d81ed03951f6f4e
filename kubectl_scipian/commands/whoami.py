"""`kubectl scipian whoami`: the cached login's identity; no network."""

from __future__ import annotations

import argparse

from kubectl_scipian import config as configuration
from kubectl_scipian.access.cache import BackendCache
from kubectl_scipian.context import Context
from kubectl_scipian.errors import LOGIN_HINT, ScipianError
from kubectl_scipian.support.timefmt import until
from kubectl_scipian.support.untrusted import visible


def run(args: argparse.Namespace, ctx: Context) -> int:
    config = configuration.resolve(
        ctx.environ, backend=args.backend, certificate_authority=args.certificate_authority
    )
    login = BackendCache(config.cache_dir, config.backend_url, warn=ctx.stderr).load_login()
    if login is None:
        raise ScipianError(f"not logged in to {config.backend_url}; {LOGIN_HINT}")
    now = ctx.clock()
    state = until(login.expires_at, now)
    state += "; refreshable" if login.refresh_token else f"; not refreshable, {LOGIN_HINT}"
    rows = [
        ("Backend", config.backend_url),
        ("Issuer", login.issuer),
        ("User", login.email or "-"),
        ("Subject", login.subject),
        ("Groups", ", ".join(login.groups) or "-"),
        ("Login", state),
    ]
    for name, value in rows:  # the provider's claims and the backend's issuer: escaped
        print(f"{name + ':':9} {visible(value)}", file=ctx.stdout)
    return 0

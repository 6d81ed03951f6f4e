"""The one production wiring: configuration -> HTTP sessions -> cache -> use cases."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from kubectl_scipian import config as configuration
from kubectl_scipian.auth import Authenticator
from kubectl_scipian.backend import BackendClient, new_session
from kubectl_scipian.context import Context
from kubectl_scipian.credentials import Credentials
from kubectl_scipian.oidc import flows
from kubectl_scipian.store import BackendCache


@dataclass
class App:
    config: configuration.Config
    cache: BackendCache
    backend: BackendClient
    auth: Authenticator
    credentials: Credentials


def build(
    args: argparse.Namespace, ctx: Context, *, login_timeout: float = flows.LOGIN_TIMEOUT
) -> App:
    config = configuration.resolve(
        ctx.environ, backend=args.backend, certificate_authority=args.certificate_authority
    )
    cache = BackendCache(config.cache_dir, config.backend_url, warn=ctx.stderr)
    backend = BackendClient(config.backend_url, new_session(config.verify))
    # The provider is usually public PKI, not the backend's private CA: default roots
    # (REQUESTS_CA_BUNDLE still applies).
    auth = Authenticator(
        cache=cache,
        backend=backend,
        idp_session=new_session(True),
        prompt=ctx.stderr,
        clock=ctx.clock,
        login_timeout=login_timeout,
    )
    credentials = Credentials(
        cache=cache, auth=auth, backend=backend, warn=ctx.stderr, clock=ctx.clock
    )
    return App(config, cache, backend, auth, credentials)

"""The one production wiring: configuration -> HTTP sessions -> cache -> use cases.

The backend client and the authenticator (requests, the OIDC flows) are built on first
use: a read command with a fresh cached kubeconfig never needs them, and importing them
costs more than the rest of its start-up.
"""

from __future__ import annotations

import argparse
from functools import cached_property
from typing import TYPE_CHECKING

from kubectl_scipian import config as configuration
from kubectl_scipian.access.cache import BackendCache
from kubectl_scipian.access.credentials import Credentials
from kubectl_scipian.context import Context

if TYPE_CHECKING:
    from kubectl_scipian.access.login import Authenticator
    from kubectl_scipian.backend.client import BackendClient


class Wiring:
    def __init__(
        self,
        config: configuration.Config,
        cache: BackendCache,
        ctx: Context,
        login_timeout: float | None,
    ) -> None:
        self.config = config
        self.cache = cache
        self._ctx = ctx
        self._login_timeout = login_timeout
        self.credentials = Credentials(
            cache=cache,
            auth=lambda: self.auth,
            backend=lambda: self.backend,
            warn=ctx.stderr,
            clock=ctx.clock,
        )

    @cached_property
    def backend(self) -> BackendClient:
        from kubectl_scipian.support import lean

        lean.preload("kubectl_scipian.backend.client")  # requests → urllib3, minus unused parts
        from kubectl_scipian.backend.client import BackendClient, new_session

        return BackendClient(self.config.backend_url, new_session(self.config.verify))

    @cached_property
    def auth(self) -> Authenticator:
        from kubectl_scipian.support import lean

        lean.preload("kubectl_scipian.access.login")
        from kubectl_scipian.access.login import Authenticator
        from kubectl_scipian.backend.client import new_session
        from kubectl_scipian.oidc import flows

        # The provider is usually public PKI, not the backend's private CA: default roots
        # (REQUESTS_CA_BUNDLE still applies).
        return Authenticator(
            cache=self.cache,
            backend=self.backend,
            idp_session=new_session(True),
            prompt=self._ctx.stderr,
            clock=self._ctx.clock,
            login_timeout=(
                flows.LOGIN_TIMEOUT if self._login_timeout is None else self._login_timeout
            ),
        )


def build(args: argparse.Namespace, ctx: Context, *, login_timeout: float | None = None) -> Wiring:
    config = configuration.resolve(
        ctx.environ, backend=args.backend, certificate_authority=args.certificate_authority
    )
    cache = BackendCache(config.cache_dir, config.backend_url, warn=ctx.stderr)
    return Wiring(config, cache, ctx, login_timeout)

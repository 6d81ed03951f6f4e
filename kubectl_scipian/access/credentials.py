"""Use case: a kubeconfig for one environment, fetched once and reused while it is fresh.

cached and fresh ──────────────────────────────────────────────► use it (files only)
else: lock(env) → re-check → valid id_token (refresh/login) → POST kubeconfig → store
backend unreachable but the cached one not yet expired ─────────► use it, with a warning
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from kubectl_scipian.access.cache import BackendCache, CachedKubeconfig, Login, fresh
from kubectl_scipian.errors import (
    AuthError,
    BackendUnreachable,
    EnvNotFound,
    FreshLoginRequired,
    FreshLoginUnprovable,
    IdpError,
    LoginRequired,
    StepUpRequired,
    UsageError,
)

if TYPE_CHECKING:
    from kubectl_scipian.access.login import Authenticator
    from kubectl_scipian.backend.client import BackendClient

log = logging.getLogger(__name__)

KUBECONFIG_MARGIN = 60.0  # refetch a minute early: a request must not outlive its token
ENV_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_REASON = 512  # the backend's bound on a justification
REASON_VAR = "SCIPIAN_REASON"
# The backend's rule (config.JUSTIFICATION_FORBIDDEN): no control, zero-width, bidi or
# line-breaking characters, so the reason reads in the audit trail as it was typed.
FORBIDDEN_IN_REASON = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def check_reason(reason: str | None) -> str:
    """A deploy credential's --reason (or SCIPIAN_REASON), as the backend will accept it."""
    text = (reason or "").strip()
    if not text:
        raise UsageError(
            f"a deploy credential needs --reason TEXT (or {REASON_VAR}): why you need it"
        )
    if len(text) > MAX_REASON:
        raise UsageError(f"--reason is longer than {MAX_REASON} characters")
    if FORBIDDEN_IN_REASON.search(text):
        raise UsageError("--reason must be printable text on one line")
    return text


def valid_env_id(env_id: str) -> bool:
    return len(env_id) <= 63 and ENV_ID.fullmatch(env_id) is not None  # not "dev\n"


class Credentials:
    def __init__(
        self,
        *,
        cache: BackendCache,
        auth: Callable[[], Authenticator],
        backend: Callable[[], BackendClient],
        warn: TextIO,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Factories: the fresh-cache path reads two files and must not pay for importing
        # the HTTP and OIDC stack (requests) that only a fetch needs.
        self.cache = cache
        self._auth = auth
        self._backend = backend
        self.warn = warn
        self.clock = clock

    @property
    def auth(self) -> Authenticator:
        return self._auth()

    @property
    def backend(self) -> BackendClient:
        return self._backend()

    def _fresh(self, item: CachedKubeconfig | None) -> bool:
        return item is not None and fresh(
            item.expires_at, item.fetched_at, self.clock(), KUBECONFIG_MARGIN
        )

    def kubeconfig(self, env_id: str, *, interactive: bool) -> CachedKubeconfig:
        if not valid_env_id(env_id):
            # The backend would answer 400 before any authorization; same thing, no round trip.
            raise EnvNotFound(f"{env_id!r} is not an environment id")
        login = self.cache.load_login()  # Authenticator.current(), without building it
        if login is None:
            if not interactive:
                raise LoginRequired("not logged in")
            login = self.auth.valid_login(interactive=True)
        cached = self.cache.load_kubeconfig(login.user, env_id)
        if self._fresh(cached) and cached is not None:
            log.debug("using the cached kubeconfig for %s", env_id)
            return cached
        with self.cache.kubeconfig_lock(login.user, env_id):
            # Whoever held the lock before us may have fetched it already.
            cached = self.cache.load_kubeconfig(login.user, env_id)
            if self._fresh(cached) and cached is not None:
                log.debug("another invocation fetched the kubeconfig for %s", env_id)
                return cached
            try:
                return self._fetch(env_id, login, interactive=interactive)
            except (BackendUnreachable, IdpError) as err:
                if cached is not None and cached.expires_at > self.clock():
                    print(
                        f"kubectl-scipian: warning: {err}; using the cached credential "
                        "until it expires",
                        file=self.warn,
                    )
                    return cached
                raise

    def _fetch(self, env_id: str, login: Login, *, interactive: bool) -> CachedKubeconfig:
        valid = self.auth.valid_login(interactive=interactive)
        try:
            issued = self.backend.kubeconfig(env_id, valid.id_token)
        except AuthError as err:
            if not err.detail.startswith("HTTP 401") or valid.refresh_token is None:
                raise
            # The backend refused a token we thought valid (revoked, clock skew): refresh once.
            log.debug("backend answered 401; refreshing the login once")
            valid = self.auth.valid_login(interactive=interactive, rejected_token=valid.id_token)
            issued = self.backend.kubeconfig(env_id, valid.id_token)
        item = CachedKubeconfig(
            environment=env_id,
            user=valid.user,
            expires_at=issued.expires_at,
            fetched_at=self.clock(),
            backend_user=issued.user,
            kubeconfig=issued.kubeconfig,
        )
        if valid.user != login.user:
            # A new login as someone else happened meanwhile; file it under that user.
            log.debug("login changed user while fetching")
        self.cache.save_kubeconfig(item)
        log.debug("fetched a kubeconfig for %s valid until %s", env_id, issued.expires_at)
        return item

    # -- the deploy level ------------------------------------------------------------------

    def deploy_kubeconfig(self, env_id: str, reason: str, *, interactive: bool) -> CachedKubeconfig:
        """A deploy-level kubeconfig for `reason` (the internal API of every command that
        changes something: `kubeconfig`/`credential --level deploy`, Helm rollback,
        promotions). Cached apart from read ones, keyed by the reason; never used for reads.

        The backend decides whether the login is fresh enough (RFC 9470): on its challenge
        we log in afresh with its max_age, once, and ask again; without a terminal that is
        the RFC's line and a hint instead.
        """
        if not valid_env_id(env_id):
            raise EnvNotFound(f"{env_id!r} is not an environment id")
        justification = check_reason(reason)
        login = self.cache.load_login()
        if login is None:
            if not interactive:
                raise LoginRequired("not logged in")
            login = self.auth.valid_login(interactive=True)
        cached = self.cache.load_kubeconfig(login.user, env_id, justification)
        if self._fresh(cached) and cached is not None:
            log.debug("using the cached deploy kubeconfig for %s", env_id)
            return cached
        with self.cache.kubeconfig_lock(login.user, env_id, justification=justification):
            cached = self.cache.load_kubeconfig(login.user, env_id, justification)
            if self._fresh(cached) and cached is not None:
                log.debug("another invocation fetched the deploy kubeconfig for %s", env_id)
                return cached
            # No stale fallback here: a deploy credential is only ever a fresh decision.
            return self._fetch_deploy(env_id, justification, interactive=interactive)

    def _fetch_deploy(
        self, env_id: str, justification: str, *, interactive: bool
    ) -> CachedKubeconfig:
        valid = self.auth.valid_login(interactive=interactive)
        try:
            issued = self.backend.kubeconfig(env_id, valid.id_token, "deploy", justification)
        except StepUpRequired as challenge:
            if not interactive:
                raise fresh_login_needed(challenge, valid) from None
            log.debug("the backend asks for a login no older than %ss", challenge.max_age)
            valid = self.auth.step_up(challenge.max_age, stale_token=valid.id_token)
            try:
                issued = self.backend.kubeconfig(env_id, valid.id_token, "deploy", justification)
            except StepUpRequired as again:  # once only: never a loop of logins
                raise AuthError(again.detail) from None
        except AuthError as err:
            if not err.detail.startswith("HTTP 401") or valid.refresh_token is None:
                raise
            # An id_token refused for another reason (expired meanwhile): refresh once.
            valid = self.auth.valid_login(interactive=interactive, rejected_token=valid.id_token)
            try:
                issued = self.backend.kubeconfig(env_id, valid.id_token, "deploy", justification)
            except StepUpRequired as challenge:
                raise fresh_login_needed(challenge, valid) from None
        item = CachedKubeconfig(
            environment=env_id,
            user=valid.user,
            expires_at=issued.expires_at,
            fetched_at=self.clock(),
            backend_user=issued.user,
            kubeconfig=issued.kubeconfig,
            level="deploy",
            justification=justification,
        )
        self.cache.save_kubeconfig(item)
        log.debug("fetched a deploy kubeconfig for %s valid until %s", env_id, issued.expires_at)
        return item

    def drop(self, item: CachedKubeconfig) -> None:
        """Forgets a kubeconfig the cluster refused, unless another process replaced it."""
        deploy = item.justification if item.level == "deploy" else None
        with self.cache.kubeconfig_lock(item.user, item.environment, justification=deploy):
            current = self.cache.load_kubeconfig(item.user, item.environment, deploy)
            if current is not None and current.fingerprint == item.fingerprint:
                self.cache.remove_kubeconfig(item.user, item.environment, deploy)

    def cached_expiry(self, login: Login, env_id: str) -> float | None:
        item = self.cache.load_kubeconfig(login.user, env_id)
        return item.expires_at if item is not None else None


def fresh_login_needed(challenge: StepUpRequired, login: Login) -> AuthError:
    """What a step-up challenge means without a terminal: log in again, or, when the login's
    id_token has no `auth_time` (the plugin's logins never carry one from such a provider),
    that another login would not help either."""
    if login.auth_time is None:
        from kubectl_scipian.oidc import idtoken  # only on this rare path

        problem = idtoken.fresh_login_problem({}, challenge.max_age, 0.0, 0.0)
        return FreshLoginUnprovable(challenge.max_age, problem, challenge.detail)
    return FreshLoginRequired(challenge.max_age, challenge.detail)

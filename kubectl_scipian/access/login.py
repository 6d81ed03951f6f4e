"""Use case: a valid id_token for the backend — from the cache, a silent refresh, or a login.

Refreshes run under the login lock and re-read the cache first: the provider rotates refresh
tokens and revokes the whole grant when a rotated one is presented again, so two processes
refreshing at once would log the user out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TextIO

import requests

from kubectl_scipian.access.cache import BackendCache, Login, fresh
from kubectl_scipian.backend.client import BackendClient
from kubectl_scipian.errors import FreshLoginUnprovable, LoginError, LoginRequired
from kubectl_scipian.oidc import flows, idtoken
from kubectl_scipian.oidc.client import OAuthError, OidcClient, Tokens

log = logging.getLogger(__name__)

ID_TOKEN_MARGIN = 30.0  # the backend allows some clock skew; do not cut it close
STEP_UP_SKEW = 5.0  # seconds of clock difference a fresh login's auth_time may show


class Authenticator:
    def __init__(
        self,
        *,
        cache: BackendCache,
        backend: BackendClient,
        idp_session: requests.Session,
        prompt: TextIO,
        clock: Callable[[], float] = time.time,
        opener: Callable[[], flows.Opener | None] = flows.browser_opener,
        login_timeout: float = flows.LOGIN_TIMEOUT,
    ) -> None:
        self.cache = cache
        self.backend = backend
        self.idp_session = idp_session
        self.prompt = prompt
        self.clock = clock
        self.opener = opener
        self.login_timeout = login_timeout

    def current(self) -> Login | None:
        """The cached login, valid or not; never touches the network."""
        return self.cache.load_login()

    def usable(self, login: Login | None) -> bool:
        return login is not None and fresh(
            login.expires_at, login.issued_at, self.clock(), ID_TOKEN_MARGIN
        )

    # -- explicit login -------------------------------------------------------------------

    def login(self, *, device: bool = False, open_browser: bool = True) -> Login:
        client = self._client_from_backend()
        tokens, flow = self._run_flow(client, device=device, open_browser=open_browser)
        login = self._to_login(client, tokens, flow=flow)
        with self.cache.login_lock():
            previous = self.cache.load_login()
            if previous is not None and previous.user != login.user:
                # Another person now: the old one's credentials have no business here.
                self.cache.remove_all_kubeconfigs()
            self.cache.save_login(login)
        return login

    def _client_from_backend(self) -> OidcClient:
        found = self.backend.discovery()
        log.debug("backend names issuer %s, client %s", found.issuer, found.client_id)
        return OidcClient(found.issuer, found.client_id, found.scopes, self.idp_session)

    def _run_flow(
        self,
        client: OidcClient,
        *,
        device: bool,
        open_browser: bool,
        max_age: int | None = None,
    ) -> tuple[Tokens, str]:
        """(tokens, "device" | "browser"): the flow that actually ran."""

        def by_device() -> tuple[Tokens, str]:
            tokens = flows.device_login(
                client, prompt=self.prompt, timeout=self.login_timeout, max_age=max_age
            )
            return tokens, "device"

        if device:
            return by_device()
        opener = self.opener() if open_browser else None
        if open_browser and opener is None:
            print("No browser available; using the device code flow.", file=self.prompt)
            return by_device()
        try:
            tokens = flows.authcode_login(
                client,
                prompt=self.prompt,
                opener=opener,
                timeout=self.login_timeout,
                max_age=max_age,
            )
            return tokens, "browser"
        except flows.NoBrowser:
            print("Could not open a browser; using the device code flow.", file=self.prompt)
            return by_device()

    def _to_login(
        self,
        client: OidcClient,
        tokens: Tokens,
        previous: Login | None = None,
        flow: str = "",
    ) -> Login:
        claims = tokens.claims
        groups = claims.get("groups")
        email = claims.get("email") or claims.get("preferred_username") or ""
        return Login(
            issuer=client.issuer,
            client_id=client.client_id,
            scopes=client.scopes,
            id_token=tokens.id_token,
            # A provider that does not rotate keeps the old refresh token valid.
            refresh_token=tokens.refresh_token or (previous.refresh_token if previous else None),
            issued_at=float(claims.get("iat", self.clock())),
            expires_at=tokens.expires_at,
            subject=str(claims["sub"]),
            email=str(email),
            groups=[str(g) for g in groups] if isinstance(groups, list) else [],
            auth_time=_auth_time(claims),
            flow=flow or (previous.flow if previous else ""),
        )

    # -- implicit: a valid id_token for a call ----------------------------------------------

    def valid_login(self, *, interactive: bool, rejected_token: str | None = None) -> Login:
        """A login whose id_token is usable now; refreshes silently, logs in only on a TTY.

        ``rejected_token``: the backend just refused this id_token, so a refresh is due even
        if its expiry says otherwise.
        """
        login = self.current()
        if self.usable(login) and login is not None and login.id_token != rejected_token:
            return login
        if login is None and not interactive:
            raise LoginRequired("not logged in")
        with self.cache.login_lock():
            login = self.current()  # another process may have refreshed meanwhile
            if self.usable(login) and login is not None and login.id_token != rejected_token:
                return login
            if login is not None and login.refresh_token:
                refreshed = self._refresh(login)
                if refreshed is not None:
                    return refreshed
            if not interactive:
                raise LoginRequired("the login expired and cannot be refreshed")
            why = "has expired" if login is not None else "is missing"
            print(f"Your Scipian login {why}; logging in.", file=self.prompt)
            client = self._client_from_backend()
            tokens, flow = self._run_flow(client, device=False, open_browser=True)
            login = self._to_login(client, tokens, flow=flow)
            self.cache.save_login(login)
            return login

    # -- step-up: a fresh login for a deploy credential (RFC 9470) -------------------------

    def step_up(self, max_age: int, *, stale_token: str) -> Login:
        """A login no older than `max_age` seconds, made now unless another invocation just
        made one (under the login lock: 20 processes asking at once cost one login).

        The provider is asked for `max_age` by the same flow the user logged in with (a
        device login stays a device login); its `auth_time` is checked here too, since a
        provider may ignore the parameter.
        """
        with self.cache.login_lock():
            login = self.current()
            if (
                login is not None
                and login.id_token != stale_token
                and self.usable(login)
                # Younger than max_age (the backend allows no skew), with a moment to spare.
                and not idtoken.fresh_login_problem(
                    {"auth_time": login.auth_time}, max(max_age - 2, 0), self.clock(), 0.0
                )
            ):
                log.debug("another invocation logged in afresh meanwhile")
                return login
            print(
                f"Deploy credentials need a login no older than {max_age}s; logging in again.",
                file=self.prompt,
                flush=True,
            )
            client = self._client_from_backend()
            device = login is not None and login.flow == "device"
            tokens, flow = self._run_flow(
                client, device=device, open_browser=not device, max_age=max_age
            )
            problem = idtoken.fresh_login_problem(
                tokens.claims, max_age, self.clock(), STEP_UP_SKEW
            )
            if problem:
                raise FreshLoginUnprovable(max_age, problem)
            if login is not None and tokens.claims.get("sub") != login.subject:
                # Another person now: the old one's credentials have no business here.
                self.cache.remove_all_kubeconfigs()
            fresh = self._to_login(client, tokens, previous=login, flow=flow)
            self.cache.save_login(fresh)
            return fresh

    def _refresh(self, login: Login) -> Login | None:
        """The refreshed login, saved; None when the provider refused the refresh token."""
        assert login.refresh_token is not None
        client = OidcClient(login.issuer, login.client_id, login.scopes, self.idp_session)
        try:
            tokens = client.refresh(login.refresh_token)
        except (OAuthError, LoginError) as err:
            log.debug("refresh refused: %s", err)
            # A refused refresh token never works again: forget it, keep who the user was.
            self.cache.save_login(login._replace(refresh_token=None))
            return None
        if tokens.claims.get("sub") != login.subject:
            raise LoginError("the provider refreshed the login as a different user")
        log.debug("id_token refreshed")
        refreshed = self._to_login(client, tokens, previous=login)
        self.cache.save_login(refreshed)
        return refreshed

    # -- logout ---------------------------------------------------------------------------

    def revoke(self, login: Login) -> None:
        revoke(login, self.idp_session)


def _auth_time(claims: dict[str, object]) -> float | None:
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def revoke(login: Login, session: requests.Session) -> None:
    """Best effort: logout must not fail because the provider is away."""
    if login.refresh_token:
        client = OidcClient(login.issuer, login.client_id, login.scopes, session)
        try:
            client.revoke(login.refresh_token)
        except Exception as err:
            log.debug("revocation skipped: %s", type(err).__name__)

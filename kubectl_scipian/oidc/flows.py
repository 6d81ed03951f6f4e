"""The two interactive logins. Prompts and URLs go to `prompt` (stderr), never stdout."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO
from urllib.parse import urlencode, urlsplit, urlunsplit

from kubectl_scipian.errors import LoginError
from kubectl_scipian.oidc import pkce
from kubectl_scipian.oidc.client import OAuthError, OidcClient, Tokens

LOGIN_TIMEOUT = 180.0  # as kubelogin: long enough for a person, short enough for a script

Opener = Callable[[str], bool]


class NoBrowser(LoginError):
    """The browser could not be started; the caller falls back to the device grant."""

    def __init__(self) -> None:
        super().__init__("no browser could be opened")


def authorization_url(
    client: OidcClient,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    challenge: str,
    max_age: int | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": client.scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if max_age is not None:
        params["max_age"] = str(max_age)  # step-up: a login no older than this (OIDC Core 3.1.2.1)
    parts = urlsplit(client.metadata().authorization_endpoint)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def authcode_login(
    client: OidcClient,
    *,
    prompt: TextIO,
    opener: Opener | None,
    timeout: float = LOGIN_TIMEOUT,
    max_age: int | None = None,
) -> Tokens:
    """Authorization Code + PKCE S256 through a loopback redirect (RFC 8252)."""
    client.metadata()  # fail on discovery before a listener or browser exists
    verifier, state, nonce = pkce.new_verifier(), pkce.new_state(), pkce.new_state()
    from kubectl_scipian.oidc.loopback import LoopbackListener  # http.server: login only

    listener = LoopbackListener(state, client.issuer)
    try:
        url = authorization_url(
            client,
            redirect_uri=listener.redirect_uri,
            state=state,
            nonce=nonce,
            challenge=pkce.challenge(verifier),
            max_age=max_age,
        )
        # At most one browser window per login, never in a loop.
        if opener is not None and not opener(url):
            raise NoBrowser()
        # Printed even when a browser opened: it may be on another screen, or the wrong one.
        print(f"Open this URL in a browser to log in:\n\n    {url}\n", file=prompt, flush=True)
        callback = listener.wait(timeout)
    finally:
        listener.close()
    try:
        return client.exchange_code(callback.code, listener.redirect_uri, verifier, nonce)
    except OAuthError as err:
        raise LoginError(f"login failed: {err.error}") from None


def device_login(
    client: OidcClient,
    *,
    prompt: TextIO,
    timeout: float = LOGIN_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    max_age: int | None = None,
) -> Tokens:
    """The device authorization grant (RFC 8628), for hosts without a browser."""
    device = client.start_device({"max_age": str(max_age)} if max_age is not None else None)
    complete = device.get("verification_uri_complete")
    lines = [
        "To log in, open this URL on any device:",
        "",
        f"    {complete or device['verification_uri']}",
        "",
        f"and confirm the code {device['user_code']}",
    ]
    if complete:
        lines[-1] += f" (or open {device['verification_uri']} and enter it)"
    print("\n".join(lines) + "\n", file=prompt, flush=True)
    return poll_device(
        lambda: client.poll_device(device["device_code"]),
        interval=float(device.get("interval", 5)),
        timeout=min(timeout, float(device.get("expires_in", timeout))),
        sleep=sleep,
    )


def poll_device(
    poll: Callable[[], Tokens],
    *,
    interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tokens:
    """Polls the token endpoint as RFC 8628 3.5 says until the person approved or gave up."""
    interval = max(interval, 1.0)
    deadline = clock() + timeout
    while True:
        sleep(interval)
        try:
            return poll()
        except OAuthError as err:
            if err.error == "slow_down":
                interval += 5  # and keep it for every later poll
            elif err.error == "access_denied":
                raise LoginError("login was denied at the provider") from None
            elif err.error == "expired_token":
                raise LoginError("the login code expired; run the login again") from None
            elif err.error != "authorization_pending":
                raise LoginError(f"login failed: {err.error}") from None
        if clock() + interval > deadline:
            raise LoginError(f"login timed out after {timeout:.0f}s")


def browser_opener(environ: dict[str, str] | None = None) -> Opener | None:
    """A function that opens one browser window, or None when no browser can be opened.

    On Linux without a display, `webbrowser` would pick a text browser and take over the
    terminal, so that counts as "no browser" (unless $BROWSER says otherwise).
    """
    env = os.environ if environ is None else environ
    if (
        sys.platform.startswith("linux")
        and not env.get("BROWSER")
        and not env.get("DISPLAY")
        and not env.get("WAYLAND_DISPLAY")
    ):
        return None
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return None

    def open_url(url: str) -> bool:
        try:
            return bool(browser.open(url, new=1))
        except webbrowser.Error:
            return False

    return open_url

"""Log test users in through the local OIDC provider's real pages (tests/idp), over HTTP.

Nothing here forges or injects a token: every login fills the provider's own forms, exactly
as a person at a browser would, and every token comes from the provider's /token endpoint.

The person (use these to complete a flow that the code under test started):

- ``device_login_approve(verification_uri_complete, user_code, user, password)`` opens the
  device page, enters the user code, signs in and approves, while the client under test polls
  /token on its own.
- ``authcode_browser(authorization_url, user, password)`` follows the client's authorization
  URL through sign-in and consent and returns the final redirect to the client's loopback
  ``http://127.0.0.1:PORT/callback?code=...&state=...`` without fetching it; the caller
  delivers it to the client's listener.

Both take ``session=`` (a ``browser()``: its cookies are the provider's session, so a second
login in it skips the sign-in page unless the request's ``max_age`` says the session is too
old) and ``seen=`` (a list that gets one entry per page the person answered: ``login``,
``consent``, ``device-code``, ``device-confirm``, ``form-post``), so a test observes at the
provider's own pages whether a login was fresh.

Complete clients (for tests that just need tokens from the provider):

- ``device_flow_tokens(issuer, client_id, user, password)`` and
  ``authcode_flow_tokens(issuer, client_id, user, password)`` return the token response
  (``id_token``, ``refresh_token``, ...); ``refresh_tokens`` uses a refresh token. Both take
  ``extra_params`` for the authorization request (e.g. ``{"max_age": "5"}``), ``session``
  and ``seen``.
- ``authorize`` + ``exchange_code`` split the code flow so a test can tamper with the PKCE
  verifier; ``IdpTokenError`` carries the provider's ``error`` code.

A sign-in the provider refuses (wrong password, unknown user) raises ``IdpLoginError``.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import requests

DEFAULT_SCOPE = "openid email groups offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT = 10.0
MAX_STEPS = 15


class IdpLoginError(RuntimeError):
    """The provider's pages did not lead to a completed sign-in."""


class IdpTokenError(RuntimeError):
    """The token endpoint answered with an OAuth error."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(f"token endpoint: HTTP {status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


# --- HTML forms ------------------------------------------------------------------------------


@dataclass
class Form:
    """One <form>, with the inputs inside it or bound to it by a ``form=`` attribute."""

    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.fields


@dataclass
class Page:
    url: str
    status: int
    forms: list[Form]
    element_ids: set[str]
    text: str

    def form(self, form_id: str) -> Form | None:
        return next((f for f in self.forms if f.id == form_id), None)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.element_ids: set[str] = set()
        self.text: list[str] = []
        self._open: Form | None = None
        self._by_id: dict[str, Form] = {}
        self._orphans: list[tuple[str, str, str, str]] = []  # (form id, name, type, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.element_ids.add(a["id"])
        if tag == "form":
            self._open = Form(a.get("id", ""), a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._open)
            if self._open.id:
                self._by_id[self._open.id] = self._open
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("form"):
                self._orphans.append((a["form"], a["name"], kind, a.get("value", "")))
            elif self._open is not None:
                self._open.fields[a["name"]] = a.get("value", "")
                self._open.types[a["name"]] = kind

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())

    def close(self) -> None:
        super().close()
        for form_id, name, kind, value in self._orphans:
            if form_id in self._by_id:
                self._by_id[form_id].fields[name] = value
                self._by_id[form_id].types[name] = kind


def parse_page(response: requests.Response) -> Page:
    parser = _PageParser()
    parser.feed(response.text)
    parser.close()
    return Page(
        response.url, response.status_code, parser.forms, parser.element_ids, " ".join(parser.text)
    )


def submit(session: requests.Session, page: Page, form: Form, **values: str) -> requests.Response:
    """Submits ``form`` as a browser would, with ``values`` typed into its fields."""
    data = {**form.fields, **values}
    url = urljoin(page.url, form.action or page.url)
    if form.method == "post":
        return session.post(url, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT)
    return session.get(url, params=data, allow_redirects=False, timeout=HTTP_TIMEOUT)


# --- the person at the browser ---------------------------------------------------------------


@dataclass
class _Person:
    """Fills whatever page the provider shows next: device code, sign-in, consent."""

    session: requests.Session
    username: str
    password: str
    user_code: str | None = None
    code_entered: bool = False
    signed_in: bool = False
    seen: list[str] = field(default_factory=list)

    def act(self, page: Page) -> requests.Response | None:
        """Answers one page; None when the page asks for nothing (a final page)."""
        login = next((f for f in page.forms if f.has("password")), None)
        if login is not None:
            self.seen.append("login")
            return self._sign_in(page, login)
        code_input = next((f for f in page.forms if f.types.get("user_code") == "text"), None)
        if code_input is not None:
            self.seen.append("device-code")
            return self._enter_code(page, code_input)
        for form_id, kind in (("consent", "consent"), ("op.deviceConfirmForm", "device-confirm")):
            form = page.form(form_id)
            if form is not None:
                self.seen.append(kind)
                return submit(self.session, page, form)
        # The provider's own auto-submitting page (form_post to itself): only hidden fields.
        auto = next((f for f in page.forms if set(f.types.values()) == {"hidden"}), None)
        if auto is not None and page.status == 200 and _same_origin(page.url, auto.action):
            self.seen.append("form-post")
            return submit(self.session, page, auto)
        return None

    def _sign_in(self, page: Page, form: Form) -> requests.Response:
        if self.signed_in:
            raise IdpLoginError(f"sign-in refused for {self.username!r}: {_summary(page)}")
        self.signed_in = True
        # The name field is `username` at oidc-provider's page and `login` at Dex's.
        name = next((n for n in ("username", "login") if form.has(n)), "username")
        return submit(self.session, page, form, **{name: self.username, "password": self.password})

    def _enter_code(self, page: Page, form: Form) -> requests.Response:
        if self.code_entered or not self.user_code:
            raise IdpLoginError(f"user code refused: {_summary(page)}")
        self.code_entered = True
        return submit(self.session, page, form, user_code=self.user_code)


def _summary(page: Page) -> str:
    return f"HTTP {page.status} at {urlsplit(page.url).path}: {page.text[:200]}"


def _browse(
    person: _Person, response: requests.Response, stop_at: str | None = None
) -> tuple[str | None, Page | None]:
    """Follows redirects and answers pages until a final page or a redirect to ``stop_at``.

    Returns (redirect URL, None) when a redirect to ``stop_at`` is reached, else (None, final page).
    """
    for _ in range(MAX_STEPS):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["location"])
            if stop_at is not None and _same_endpoint(location, stop_at):
                return location, None
            response = person.session.get(location, allow_redirects=False, timeout=HTTP_TIMEOUT)
            continue
        page = parse_page(response)
        answer = person.act(page)
        if answer is None:
            return None, page
        response = answer
    raise IdpLoginError(f"no end to the sign-in pages after {MAX_STEPS} steps")


def _same_origin(page_url: str, action: str) -> bool:
    a, b = urlsplit(page_url), urlsplit(urljoin(page_url, action))
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _same_endpoint(url: str, expected: str) -> bool:
    a, b = urlsplit(url), urlsplit(expected)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


def browser() -> requests.Session:
    """A fresh browser: no cookies, so the provider shows its sign-in page first."""
    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy from the environment
    return session


def _browser(session: requests.Session | None) -> requests.Session:
    return session if session is not None else browser()


def _person(
    session: requests.Session | None,
    username: str,
    password: str,
    seen: list[str] | None,
    user_code: str | None = None,
) -> _Person:
    return _Person(
        _browser(session),
        username,
        password,
        user_code=user_code,
        seen=seen if seen is not None else [],
    )


def device_login_approve(
    verification_uri_complete_or_uri: str,
    user_code: str,
    username: str,
    password: str,
    *,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> None:
    """Acts as the person completing a device flow: enter the code, sign in, approve.

    A ``session`` already signed in (as the same user) skips the sign-in page, as a browser
    with a live provider session would (unless the flow's ``max_age`` finds it too old);
    pass none to start signed out. ``seen`` collects the pages answered.
    """
    person = _person(session, username, password, seen, user_code=user_code)
    first = person.session.get(
        verification_uri_complete_or_uri, allow_redirects=False, timeout=HTTP_TIMEOUT
    )
    _, page = _browse(person, first)
    if page is None or page.status != 200 or not _device_success(page):
        detail = _summary(page) if page is not None else "no final page"
        raise IdpLoginError(f"device sign-in did not complete: {detail}")


def _device_success(page: Page) -> bool:
    """The provider's final device page: oidc-provider's `#success`, Dex's heading."""
    return "success" in page.element_ids or "Login Successful for " in page.text


def authcode_browser(
    authorization_url: str,
    username: str,
    password: str,
    *,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> str:
    """Acts as the browser: returns the final redirect to the client, without fetching it.

    ``session`` and ``seen`` as for ``device_login_approve``.
    """
    redirect_uri = parse_qs(urlsplit(authorization_url).query).get("redirect_uri", [""])[0]
    if not redirect_uri:
        raise ValueError("the authorization URL has no redirect_uri")
    person = _person(session, username, password, seen)
    first = person.session.get(authorization_url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    location, page = _browse(person, first, stop_at=redirect_uri)
    if location is None:
        detail = _summary(page) if page is not None else "no final page"
        raise IdpLoginError(f"no redirect back to the client: {detail}")
    return location


# --- complete clients ------------------------------------------------------------------------


def _client() -> requests.Session:
    client = requests.Session()
    client.trust_env = False
    return client


def discover(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = _client().get(url, timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    metadata: dict[str, Any] = response.json()
    if metadata.get("issuer") != issuer:
        raise IdpLoginError(f"discovery issuer {metadata.get('issuer')!r} is not {issuer!r}")
    return metadata


def pkce_pair() -> tuple[str, str]:
    """Returns (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_request(token_endpoint: str, data: dict[str, str]) -> dict[str, Any]:
    """POSTs to /token; raises IdpTokenError on an OAuth error."""
    response = _client().post(token_endpoint, data=data, timeout=HTTP_TIMEOUT)
    body: dict[str, Any]
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "error" in body:
        raise IdpTokenError(
            response.status_code,
            str(body.get("error", "?")),
            str(body.get("error_description", "")),
        )
    return body


def refresh_tokens(issuer: str, client_id: str, refresh_token: str) -> dict[str, Any]:
    metadata = discover(issuer)
    return token_request(
        metadata["token_endpoint"],
        {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
    )


@dataclass(frozen=True)
class Authorization:
    """The outcome of the front-channel half of the code flow."""

    token_endpoint: str
    client_id: str
    redirect_uri: str
    code: str
    code_verifier: str


def authorize(
    issuer: str,
    client_id: str,
    username: str,
    password: str,
    scope: str = DEFAULT_SCOPE,
    *,
    redirect_port: int | None = None,
    extra_params: dict[str, str] | None = None,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> Authorization:
    """Starts the code flow (PKCE S256), signs in through the pages, returns the code.

    ``extra_params`` join the authorization request (``max_age``, ``prompt``, ...).
    """
    metadata = discover(issuer)
    port = redirect_port or random.randint(20000, 60000)
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **(extra_params or {}),
    }
    url = _with_query(metadata["authorization_endpoint"], params)
    location = authcode_browser(url, username, password, session=session, seen=seen)
    callback = parse_qs(urlsplit(location).query)
    if "error" in callback:
        raise IdpLoginError(f"authorization failed: {callback['error'][0]}")
    if callback.get("state") != [state]:
        raise IdpLoginError("the redirect carried a different state")
    if callback.get("iss", [issuer]) != [issuer]:
        raise IdpLoginError("the redirect carried a different issuer")
    return Authorization(
        metadata["token_endpoint"], client_id, redirect_uri, callback["code"][0], verifier
    )


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def exchange_code(auth: Authorization, code_verifier: str | None = "") -> dict[str, Any]:
    """Redeems the code; ``code_verifier`` "" uses the right one, None sends none."""
    data = {
        "grant_type": "authorization_code",
        "client_id": auth.client_id,
        "code": auth.code,
        "redirect_uri": auth.redirect_uri,
    }
    if code_verifier is not None:
        data["code_verifier"] = code_verifier or auth.code_verifier
    return token_request(auth.token_endpoint, data)


def authcode_flow_tokens(
    issuer: str,
    client_id: str,
    username: str,
    password: str,
    scope: str = DEFAULT_SCOPE,
    *,
    redirect_port: int | None = None,
    extra_params: dict[str, str] | None = None,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> dict[str, Any]:
    """A whole authorization-code + PKCE login; returns the token response."""
    auth = authorize(
        issuer,
        client_id,
        username,
        password,
        scope,
        redirect_port=redirect_port,
        extra_params=extra_params,
        session=session,
        seen=seen,
    )
    return exchange_code(auth)


def start_device_flow(
    issuer: str,
    client_id: str,
    scope: str = DEFAULT_SCOPE,
    *,
    extra_params: dict[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (discovery metadata, device authorization response).

    ``extra_params`` join the device authorization request (e.g. ``max_age``).
    """
    metadata = discover(issuer)
    response = _client().post(
        metadata["device_authorization_endpoint"],
        data={"client_id": client_id, "scope": scope, **(extra_params or {})},
        timeout=HTTP_TIMEOUT,
    )
    response.raise_for_status()
    return metadata, response.json()


def poll_device_token(
    token_endpoint: str,
    client_id: str,
    device: dict[str, Any],
    timeout: float = 60.0,
    *,
    abandon: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Polls /token as RFC 8628 says (authorization_pending, slow_down) until an answer.

    ``abandon`` is called before each poll; it raises to give up early.
    """
    interval = float(device.get("interval", 5))
    deadline = time.monotonic() + min(timeout, float(device.get("expires_in", timeout)))
    data = {
        "grant_type": DEVICE_GRANT,
        "client_id": client_id,
        "device_code": device["device_code"],
    }
    while True:
        if abandon is not None:
            abandon()
        try:
            return token_request(token_endpoint, data)
        except IdpTokenError as err:
            if err.error == "slow_down":
                interval += 5
            elif err.error != "authorization_pending":
                raise
        if time.monotonic() + interval > deadline:
            raise IdpLoginError("the device flow was not approved in time")
        time.sleep(interval)


def device_flow_tokens(
    issuer: str,
    client_id: str,
    username: str,
    password: str,
    scope: str = DEFAULT_SCOPE,
    *,
    timeout: float = 60.0,
    extra_params: dict[str, str] | None = None,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> dict[str, Any]:
    """A whole device-flow login: the person approves in a thread while this polls /token."""
    metadata, device = start_device_flow(issuer, client_id, scope, extra_params=extra_params)
    failure: list[BaseException] = []

    def approve() -> None:
        try:
            device_login_approve(
                device["verification_uri_complete"],
                device["user_code"],
                username,
                password,
                session=session,
                seen=seen,
            )
        except BaseException as err:  # handed over to the polling thread
            failure.append(err)

    def abandon() -> None:
        if failure:
            raise failure[0]

    person = threading.Thread(target=approve, name=f"idp-login-{username}", daemon=True)
    person.start()
    try:
        return poll_device_token(
            metadata["token_endpoint"], client_id, device, timeout, abandon=abandon
        )
    finally:
        person.join(timeout=HTTP_TIMEOUT)

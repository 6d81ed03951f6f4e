"""The dashboard tests' shared parts: browsers signed in as the stack's users, and every
page they saw (for the token checks of test_dashboard.py::test_zz_...)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.ui.browser import Browser, browser
from tests.stack import idp_login

PAGES_SEEN: list[tuple[str, str]] = []  # (url, source) of every page any browser showed


@pytest.fixture
def signed_in(stack: Stack) -> Iterator[Callable[..., Browser]]:
    """signed_in(user[, ui_url]) -> a Browser signed in to the dashboard; closed at the end."""
    opened: list[Browser] = []
    with ExitStack() as stack_of_browsers:

        def open_as(user: str, ui_url: str | None = None) -> Browser:
            b = stack_of_browsers.enter_context(browser(user))
            opened.append(b)
            b.sign_in(ui_url or stack.env["STACK_UI_URL"], stack.env["STACK_PASSWORD"])
            return b

        try:
            yield open_as
        finally:
            for b in opened:
                PAGES_SEEN.extend(b.seen)


def sign_in_http(stack: Stack, base: str, user: str) -> tuple[requests.Session, str]:
    """A dashboard session at backend `base` over plain HTTP (the provider's own pages,
    answered as a browser would) and its CSRF token."""
    s = requests.Session()
    s.trust_env = False
    start = s.get(f"{base}/ui/login", allow_redirects=False, timeout=30)
    back = idp_login.authcode_browser(start.headers["location"], user, stack.env["STACK_PASSWORD"])
    done = s.get(back, allow_redirects=False, timeout=30)
    assert done.status_code == 303 and "scipian_session" in s.cookies
    found = re.search(r'name="csrf" value="([^"]+)"', s.get(f"{base}/ui/", timeout=30).text)
    assert found is not None
    return s, found.group(1)


def as_http(b: Browser) -> requests.Session:
    """A plain HTTP client holding the browser's session cookie: the hostile client."""
    s = requests.Session()
    s.trust_env = False
    cookie = b.cookie("scipian_session")
    assert cookie is not None
    s.cookies.set("scipian_session", str(cookie["value"]), path="/ui/")
    return s

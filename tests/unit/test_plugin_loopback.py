"""The one-shot loopback listener of the auth-code flow (a real socket on 127.0.0.1)."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
import requests

from kubectl_scipian.errors import LoginError
from kubectl_scipian.oidc.loopback import Callback, LoopbackListener

ISSUER = "http://127.0.0.1:1"


def deliver(listener: LoopbackListener, *paths: str) -> list[int]:
    """GETs the paths one after another, as a browser would, while the listener waits."""
    statuses: list[int] = []

    def browser() -> None:
        base = listener.redirect_uri.rsplit("/", 1)[0]
        for path in paths:
            statuses.append(requests.get(base + path, timeout=5).status_code)

    thread = threading.Thread(target=browser)
    thread.start()
    try:
        listener.wait(timeout=10)
    finally:
        thread.join(10)
    return statuses


def test_binds_loopback_only_on_a_free_port() -> None:
    a, b = LoopbackListener("s", ISSUER), LoopbackListener("s", ISSUER)
    try:
        for listener in (a, b):
            url = urlsplit(listener.redirect_uri)
            assert (url.scheme, url.hostname, url.path) == ("http", "127.0.0.1", "/callback")
        assert a.redirect_uri != b.redirect_uri
    finally:
        a.close()
        b.close()


def test_accepts_one_callback_then_closes() -> None:
    listener = LoopbackListener("st", ISSUER)
    result: list[Callback] = []
    base = listener.redirect_uri

    def browser() -> None:
        assert requests.get(base.replace("/callback", "/favicon.ico"), timeout=5).status_code == 404
        assert requests.get(base + "?code=c1&state=st", timeout=5).status_code == 200

    thread = threading.Thread(target=browser)
    thread.start()
    result.append(listener.wait(timeout=10))
    thread.join(10)
    assert result == [Callback("c1")]
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "?code=c2&state=st", timeout=2)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?code=c&state=other", "different state"),
        ("?state=st", "no code"),
        ("?error=access_denied&state=st", "access_denied"),
        ("?code=c&state=st&iss=http://evil", "another issuer"),
    ],
)
def test_bad_callbacks_fail_the_login(query: str, message: str) -> None:
    listener = LoopbackListener("st", ISSUER)
    with pytest.raises(LoginError, match=message):
        deliver(listener, "/callback" + query)


def test_times_out() -> None:
    listener = LoopbackListener("st", ISSUER)
    with pytest.raises(LoginError, match="timed out"):
        listener.wait(timeout=0.3)


def test_no_display_means_no_browser_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubectl_scipian.oidc import flows

    monkeypatch.setattr("sys.platform", "linux")
    assert flows.browser_opener({}) is None
    assert flows.browser_opener({"TERM": "xterm"}) is None

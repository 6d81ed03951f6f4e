"""CSRF protection of the dashboard's actions (every POST).

Two checks, both required: the form carries the session's synchronizer token (compared in
constant time), and the request's Origin, when the browser sends one, is the backend's own.
The session cookie is SameSite=Lax as well, so a cross-site form does not even carry it.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit


def same_origin(origin: str | None, public_url: str) -> bool:
    if origin is None:
        return True  # old browsers and non-browser clients; the token still decides
    want = urlsplit(public_url)
    got = urlsplit(origin)
    return (got.scheme, got.netloc) == (want.scheme, want.netloc)


def token_ok(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())

"""Dashboard sessions and pending logins: what they hold, and the pending login's sealed
cookie (docs/decisions/dashboard-state.md).

A session is an opaque random id (the cookie's value) naming a Secret on mgmt
(ui/sessions_store.py) with the Identity its login verified, when it ends (never later than
the id_token's `exp`) and its CSRF token. No token of any kind is kept.

A pending login (an authorization request on its way through the provider) is kept by the
browser only: its state, PKCE verifier, nonce, where to return and a step-up's action,
sealed (ui/sealed.py, AES-GCM) into a short-lived cookie that any replica opens. Nothing is
written anywhere for a request nobody has authenticated yet.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from scipian_backend.identity.authn import Identity
from scipian_backend.ui.sealed import Keyring, open_sealed, seal

LOGIN_SECONDS = 600  # an authorization request must come back within this (--ui-login-seconds)
PURPOSE = "pending-login"  # the sealed value's purpose (its associated data)
MAX_RETURN = 512  # characters of the path to return to; a longer one returns to /ui/


@dataclass(frozen=True)
class Session:
    identity: Identity
    expires: float  # epoch seconds
    csrf: str


@dataclass(frozen=True)
class PendingLogin:
    """What the callback must match: the state, PKCE verifier and nonce of one authorization
    request, and where to go after it."""

    state: str
    verifier: str
    nonce: str
    return_to: str
    expires: float
    # A step-up login (RFC 9470) for an action a CSRF-checked POST asked for: who must sign
    # in again, and what to do once they have, e.g. ("approve", promotion, env, reason).
    user: str | None = None
    action: tuple[str, ...] | None = None
    max_age: int | None = None


def new_pending(
    return_to: str,
    expires: float,
    *,
    user: str | None = None,
    action: tuple[str, ...] | None = None,
    max_age: int | None = None,
) -> PendingLogin:
    if len(return_to) > MAX_RETURN:
        return_to = "/ui/"
    return PendingLogin(
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(48),
        secrets.token_urlsafe(32),
        return_to,
        expires,
        user,
        action,
        max_age,
    )


def seal_pending(ring: Keyring, pending: PendingLogin) -> str:
    payload: dict[str, Any] = {
        "s": pending.state,
        "v": pending.verifier,
        "n": pending.nonce,
        "r": pending.return_to,
        "u": pending.user,
        "a": list(pending.action) if pending.action is not None else None,
        "m": pending.max_age,
        "e": pending.expires,
    }
    return seal(ring, PURPOSE, payload, pending.expires)


def open_pending(ring: Keyring, sealed: str, now: float) -> PendingLogin | None:
    """The pending login a cookie holds, or None (tampered, another key, expired, garbage)."""
    doc = open_sealed(ring, PURPOSE, sealed, now)
    if doc is None:
        return None
    try:
        action = doc.get("a")
        max_age = doc.get("m")
        user = doc.get("u")
        return PendingLogin(
            str(doc["s"]),
            str(doc["v"]),
            str(doc["n"]),
            str(doc["r"]),
            float(doc.get("e", now)),
            str(user) if user is not None else None,
            tuple(str(x) for x in action) if isinstance(action, list) else None,
            int(max_age) if max_age is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _key(session_id: str) -> str:
    # Stored hashed: the names a listing of mgmt shows do not hand out live cookies.
    return hashlib.sha256(session_id.encode()).hexdigest()


session_key = _key  # what names a session elsewhere (its Secret, its log follows)

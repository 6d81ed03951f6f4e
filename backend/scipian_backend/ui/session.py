"""Dashboard sessions and pending logins, held in this process's memory only.

A session is an opaque random id (the cookie's value) mapped to the Identity its login
verified, when it ends (never later than the id_token's `exp`) and its CSRF token. No
token of any kind is kept: pages are authorized afresh with SubjectAccessReviews, and logs
are read with a credential minted for the request. Logout deletes the entry, so a copied
cookie dies with it. Per replica: with several replicas, route a browser to one of them
(session affinity), or it logs in again on another.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scipian_backend.identity.authn import Identity

MAX_SESSIONS = 10000  # a flood of logins evicts the oldest sessions, not the process
LOGIN_SECONDS = 600  # an authorization request must come back within this


@dataclass(frozen=True)
class Session:
    identity: Identity
    expires: float  # epoch seconds
    csrf: str


@dataclass(frozen=True)
class PendingLogin:
    """What the callback must match: the PKCE verifier and nonce of one authorization request."""

    verifier: str
    nonce: str
    return_to: str
    expires: float
    # A step-up login (RFC 9470) for an action a CSRF-checked POST asked for: who must sign
    # in again, and what to do once they have, e.g. ("approve", promotion, env, reason).
    user: str | None = None
    action: tuple[str, ...] | None = None
    max_age: int | None = None


def _key(session_id: str) -> str:
    # Stored hashed: a dump of this process's memory does not hand out live cookies.
    return hashlib.sha256(session_id.encode()).hexdigest()


session_key = _key  # what names a session elsewhere (its log follows), never the cookie


class SessionStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingLogin] = {}

    def create(self, identity: Identity, expires: float) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(identity, expires, secrets.token_urlsafe(32))
        with self._lock:
            self._sweep()
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].expires)
                del self._sessions[oldest]
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        with self._lock:
            session = self._sessions.get(_key(session_id))
            if session is not None and session.expires <= self._clock():
                del self._sessions[_key(session_id)]
                return None
            return session

    def delete(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)

    def begin_login(
        self,
        return_to: str,
        *,
        user: str | None = None,
        action: tuple[str, ...] | None = None,
        max_age: int | None = None,
    ) -> tuple[str, PendingLogin]:
        state = secrets.token_urlsafe(32)
        pending = PendingLogin(
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(32),
            return_to,
            self._clock() + LOGIN_SECONDS,
            user,
            action,
            max_age,
        )
        with self._lock:
            self._sweep()
            if len(self._pending) >= MAX_SESSIONS:
                self._pending.pop(next(iter(self._pending)))
            self._pending[_key(state)] = pending
        return state, pending

    def finish_login(self, state: str) -> PendingLogin | None:
        """The pending login of `state`, once (a replayed callback finds nothing)."""
        with self._lock:
            pending = self._pending.pop(_key(state), None)
        if pending is None or pending.expires <= self._clock():
            return None
        return pending

    def _sweep(self) -> None:
        now = self._clock()
        for store in (self._sessions, self._pending):
            for k in [k for k, v in store.items() if v.expires <= now]:
                del store[k]

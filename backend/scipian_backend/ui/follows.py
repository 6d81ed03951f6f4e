"""The open log follows of this replica: at most N per user and M in all (`serve
--ui-follows-per-user`, `--ui-follows-per-replica`), and a way to end a session's follows at
once when it signs out.

Each follow holds a reader thread and an upstream connection until it ends (ui/logs.py),
so these caps are what bounds the threads and memory that followers can pin. A slot is taken
before the credential is minted (a refused follow costs the cluster nothing) and given back
when the response ends, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from scipian_backend.errors import ApiError, ServiceUnavailable


class TooManyFollows(ApiError, status=429): ...


class Follow:
    """One open follow: whose, from which session, and how to stop it from outside."""

    def __init__(self, owner: Follows, user: str, session_key: str) -> None:
        self.user = user
        self.session_key = session_key
        self.ended = False  # the session signed out: the stream says so and stops
        self._owner = owner
        self._wake: Callable[[], None] | None = None
        self._released = False

    def on_end(self, wake: Callable[[], None]) -> None:
        """What to call (on the event loop) when the follow must stop early."""
        self._wake = wake
        if self.ended:
            wake()

    def end(self) -> None:
        self.ended = True
        if self._wake is not None:
            self._wake()

    def release(self) -> None:
        """Gives the slot back (idempotent)."""
        if not self._released:
            self._released = True
            self._owner._release(self)


class Follows:
    def __init__(self, per_user: int, per_replica: int) -> None:
        self.per_user = per_user
        self.per_replica = per_replica
        self._lock = threading.Lock()
        self._open: list[Follow] = []

    def open(self, user: str, session_key: str) -> Follow:
        """A slot for `user`, or TooManyFollows (that user's cap) / ServiceUnavailable (the
        replica's)."""
        with self._lock:
            if sum(1 for f in self._open if f.user == user) >= self.per_user:
                raise TooManyFollows(
                    f"you follow {self.per_user} logs already; close one to follow another"
                )
            if len(self._open) >= self.per_replica:
                raise ServiceUnavailable("this replica follows as many logs as it may; retry later")
            follow = Follow(self, user, session_key)
            self._open.append(follow)
            return follow

    def end_session(self, session_key: str) -> int:
        """Ends every follow of a session (its logout); returns how many."""
        with self._lock:
            mine = [f for f in self._open if f.session_key == session_key]
        for f in mine:
            f.end()
        return len(mine)

    def session_keys(self) -> set[str]:
        """The sessions with follows open here (ui/follow_watch.py checks they still live)."""
        with self._lock:
            return {f.session_key for f in self._open}

    def count(self, user: str | None = None) -> int:
        with self._lock:
            return sum(1 for f in self._open if user is None or f.user == user)

    def _release(self, follow: Follow) -> None:
        with self._lock:
            self._open.remove(follow)

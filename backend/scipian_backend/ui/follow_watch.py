"""Ends this replica's log follows whose session ended on another replica (a logout there,
or the sweeper): every `--ui-follow-check-seconds`, while follows are open, each of their
sessions is read from mgmt once. A logout on this replica ends its follows at once
(ui/routes.py); this bounds the wait for one elsewhere. Runs on the event loop (a task
started with the first follow, done when none is left), so it ends a follow as the logout
does; when mgmt cannot be read the follows go on (their session's expiry still ends them).
"""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from scipian_backend.errors import ApiError
from scipian_backend.ui.follows import Follows
from scipian_backend.ui.sessions_store import DashboardSessions


class FollowSessionWatch:
    def __init__(self, follows: Follows, sessions: DashboardSessions, every: float) -> None:
        self._follows = follows
        self._sessions = sessions
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def ensure(self) -> None:
        """Called on the event loop after a follow opened: watches until none is left."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            keys = self._follows.session_keys()
            if not keys:
                return
            for key in keys:
                try:
                    alive = await run_in_threadpool(self._sessions.alive, key)
                except ApiError:
                    continue
                if not alive:
                    self._follows.end_session(key)

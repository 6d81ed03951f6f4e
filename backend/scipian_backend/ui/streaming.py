"""The log follow's HTTP response: server-sent events that stop when the browser stops
taking them, and give their follow slot (ui/follows.py) and credential back however they end.

A browser that stops reading leaves the send blocked on a full socket, where no check of
the session or the credential runs; a send blocked longer than STALL_SECONDS ends the
stream instead (the server then closes the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from scipian_backend.ui.follows import Follow
from scipian_backend.ui.logs import KEEPALIVE_SECONDS, Viewer

STALL_SECONDS = 2 * KEEPALIVE_SECONDS  # a reading browser takes a keep-alive well within it


class FollowResponse(StreamingResponse):
    def __init__(self, stream: AsyncIterator[str], follow: Follow, viewer: Viewer) -> None:
        super().__init__(stream, media_type="text/event-stream")
        self._stream = stream
        self._follow = follow
        self._viewer = viewer
        self.headers["X-Accel-Buffering"] = "no"  # proxies must pass each line at once

    async def stream_response(self, send: Send) -> None:
        async def timed(message: Message) -> None:
            await asyncio.wait_for(send(message), STALL_SECONDS)

        with contextlib.suppress(asyncio.TimeoutError):
            await super().stream_response(timed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()  # its finally stops the reader thread
            self._viewer.close()
            self._follow.release()

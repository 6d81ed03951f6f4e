"""Reads the dashboard session a request's cookie names, once per request and off the event
loop (it is a read of a Secret on mgmt, ui/sessions_store.py), before the route runs; the
routes take it with `looked_up(request)`, synchronously.

A request without the cookie, or for the static files, costs mgmt nothing. When mgmt cannot
be read, the request is answered 503 here (never "not signed in": that would send a signed-in
person to the provider for nothing).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request, cookie_parser
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from scipian_backend.errors import ApiError
from scipian_backend.ui.session import Session
from scipian_backend.ui.sessions_store import DashboardSessions

SCOPE_KEY = "scipian.ui_session"
SKIPPED = ("/ui/static/",)


class SessionLookup:
    def __init__(self, app: ASGIApp, sessions: DashboardSessions, cookie: str) -> None:
        self.app = app
        self.sessions = sessions
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/ui/") or path.startswith(SKIPPED):
            await self.app(scope, receive, send)
            return
        session_id = _cookie(scope, self.cookie)
        session: Session | None = None
        if session_id:
            try:
                session = await run_in_threadpool(self.sessions.get, session_id)
            except ApiError as e:
                resp = PlainTextResponse(e.message, status_code=e.status)
                resp.headers["Cache-Control"] = "no-store"
                await resp(scope, receive, send)
                return
        scope[SCOPE_KEY] = session
        await self.app(scope, receive, send)


def _cookie(scope: Scope, name: str) -> str:
    """The cookie as `request.cookies` reads it (Starlette's parser, the last header wins)."""
    found = ""
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name, found)
    return found


def looked_up(request: Request) -> Session | None:
    """The request's live session (None: no cookie, unknown, ended or expired)."""
    found = request.scope.get(SCOPE_KEY)
    return found if isinstance(found, Session) else None

"""Request ids, request metrics, and a JSON 500 for what nothing else caught."""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scipian_backend.http.error_bodies import error_response
from scipian_backend.metrics import Metrics

log = logging.getLogger("scipian.http")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(scope: Scope) -> str:
    """The caller's X-Request-Id when it is a plain token, else a new one; also stored
    where `request.state.request_id` reads it."""
    given = Headers(scope=scope).get("x-request-id", "")
    rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    scope.setdefault("state", {})["request_id"] = rid
    return rid


def log_failure(rid: str, exc: BaseException) -> None:
    # Frames only: an exception's message may quote an upstream body.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("request %s failed: %s\n%s", rid, type(exc).__name__, frames)


class RequestIdAndMetrics:
    """Request id (X-Request-Id, request.state.request_id), metrics, and a JSON 500.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs
    each request through an extra task and memory streams, a fixed cost on every issuance.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                MutableHeaders(scope=message)["X-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log_failure(rid, exc)
            if started_response:
                raise  # too late for a JSON error: the server closes the connection
            status = 500
            await error_response(500, "InternalError", "internal error")(
                scope, receive, send_with_id
            )
        template = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.request(template, status, time.perf_counter() - started)

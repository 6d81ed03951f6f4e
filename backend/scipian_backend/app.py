"""The HTTP layer (FastAPI): routes, request ids, JSON errors and metrics; no business logic.

`create_app(backend)` takes its collaborators, so several apps can live in one process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scipian_backend import __version__
from scipian_backend.config import ENV_ID, valid_env_id
from scipian_backend.errors import ApiError, BadRequest
from scipian_backend.service import Backend

log = logging.getLogger("scipian.http")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_BODY = 65536
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
REASONS |= {
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


class PayloadTooLarge(ApiError):
    status = 413
    reason = "PayloadTooLarge"


class ErrorBody(BaseModel):
    reason: str
    message: str


class Discovery(BaseModel):
    apiVersion: str
    issuer: str
    clientID: str
    scopes: list[str]
    usernamePrefix: str


class EnvironmentItem(BaseModel):
    id: str
    description: str
    ttlSeconds: int


class EnvironmentList(BaseModel):
    items: list[EnvironmentItem]


class KubeconfigResponse(BaseModel):
    environment: str
    user: str
    expirationTimestamp: str
    kubeconfig: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": reason}
    for code, reason in {
        400: "malformed environment id or body",
        413: "request body larger than 64 KiB",
        401: "missing, invalid or expired id_token",
        403: "not allowed for this environment (whether it exists or not)",
        404: "allowed, but no such environment",
        429: "too many credential requests from this user; see Retry-After",
        503: "management cluster, target cluster or OIDC provider unavailable",
    }.items()
}


ENV_ID_MESSAGE = "environment id must be a Kubernetes object name (DNS-1123 label)"
# What valid_env_id accepts, also in /openapi.json so that clients and fuzzers know it.
EnvId = Annotated[str, Path(pattern=ENV_ID.pattern, max_length=63)]


def error_response(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "message": message}, status_code=status)


def create_app(backend: Backend) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Shutdown (SIGTERM from the kubelet, too): the aggregated Events still pending.
        await run_in_threadpool(backend.auditor.close)

    app = FastAPI(
        title="Scipian backend",
        version=__version__,
        description="Short-lived, audited kubeconfigs for Scipian environments (docs/api.md).",
        lifespan=lifespan,
    )
    app.state.backend = backend
    _install_middleware(app, backend)
    _install_error_handlers(app)
    _install_routes(app, backend)
    return app


def _install_routes(app: FastAPI, backend: Backend) -> None:
    @app.get("/.well-known/scipian-configuration", response_model=Discovery)
    def discovery() -> dict[str, Any]:
        return backend.discovery()

    @app.get("/api/v1/environments", response_model=EnvironmentList, responses=ERRORS)
    def environments(request: Request) -> dict[str, Any]:
        items = backend.environments(request.headers.get("authorization"), _rid(request))
        return {"items": items}

    @app.post(
        "/api/v1/environments/{env_id:path}/kubeconfig",
        response_model=KubeconfigResponse,
        responses=ERRORS,
    )
    async def kubeconfig(env_id: EnvId, request: Request) -> Response:
        if not valid_env_id(env_id):  # before the body and before any authorization
            raise BadRequest(ENV_ID_MESSAGE)
        await _check_body(request)
        issued = await run_in_threadpool(
            backend.issue, env_id, request.headers.get("authorization"), _rid(request)
        )
        # A Response as is: Backend.issue builds exactly KubeconfigResponse's four strings,
        # and the hot path skips re-validating them through the model (response_model
        # still documents the body in /openapi.json).
        return JSONResponse(issued)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok\n"

    @app.get("/readyz", response_class=PlainTextResponse)
    def readyz() -> Response:
        if backend.ready():
            return PlainTextResponse("ok\n")
        return PlainTextResponse("not ready\n", status_code=503)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return PlainTextResponse(
            backend.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


async def _check_body(request: Request) -> None:
    body = await _bounded_body(request)
    if not body.strip():
        return
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadRequest("request body must be a JSON object") from None
    if not isinstance(doc, dict):
        raise BadRequest("request body must be a JSON object")


async def _bounded_body(request: Request) -> bytes:
    """The body, read no further than MAX_BODY: a huge upload is refused, not buffered."""
    too_large = PayloadTooLarge("request body too large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large
    return body


def _rid(request: Request) -> str:
    return str(request.state.request_id)


def _install_middleware(app: FastAPI, backend: Backend) -> None:
    app.add_middleware(RequestIdAndMetrics, backend=backend)


class RequestIdAndMetrics:
    """Request id (X-Request-Id, request.state.request_id), metrics, and a JSON 500.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs
    each request through an extra task and memory streams, a fixed cost on every issuance.
    """

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid  # what request.state reads
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
            # Frames only: an exception's message may quote an upstream body.
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("request %s failed: %s\n%s", rid, type(exc).__name__, frames)
            if started_response:
                raise  # too late for a JSON error: the server closes the connection
            status = 500
            await error_response(500, "InternalError", "internal error")(
                scope, receive, send_with_id
            )
        template = getattr(scope.get("route"), "path", "unmatched")
        self.backend.metrics.request(template, status, time.perf_counter() - started)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        response = error_response(exc.status, exc.reason, exc.message)
        response.headers.update(getattr(exc, "headers", {}))  # e.g. 429's Retry-After
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="scipian"'
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = REASONS.get(exc.status_code, "InternalError")
        return error_response(exc.status_code, reason, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if any(tuple(e.get("loc", ()))[:2] == ("path", "env_id") for e in exc.errors()):
            return error_response(400, "BadRequest", ENV_ID_MESSAGE)
        return error_response(400, "BadRequest", "malformed request")

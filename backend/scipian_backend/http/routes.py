"""The routes of docs/api.md: each turns a request into a use case call and its answer."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from scipian_backend.http.bodies import json_object, kubeconfig_request
from scipian_backend.http.calls import check_env_id, request_id
from scipian_backend.http.error_bodies import PayloadTooLarge
from scipian_backend.http.schema import (
    ERRORS,
    KUBECONFIG_ERRORS,
    KUBECONFIG_REQUEST,
    Discovery,
    EnvId,
    EnvironmentList,
    KubeconfigResponse,
)
from scipian_backend.usecases import Backend

MAX_BODY = 65536
KUBECONFIG_ROUTE = "/api/v1/environments/{env_id:path}/kubeconfig"


def install_routes(app: FastAPI, backend: Backend) -> None:
    @app.get("/.well-known/scipian-configuration", response_model=Discovery)
    def discovery() -> dict[str, Any]:
        return backend.discovery()

    @app.get(
        "/api/v1/environments",
        response_model=EnvironmentList,
        response_model_exclude_none=True,  # `gated` only where the caller may deploy
        responses=ERRORS,
    )
    def environments(request: Request) -> dict[str, Any]:
        items = backend.environments(
            request.headers.get("authorization"), request_id(request), True
        )
        return {"items": items}

    @app.post(
        KUBECONFIG_ROUTE,
        response_model=KubeconfigResponse,
        responses=KUBECONFIG_ERRORS,
        openapi_extra=KUBECONFIG_REQUEST,
    )
    async def kubeconfig(env_id: EnvId, request: Request) -> Response:
        # http/issuance.py answers these requests before the app sees them, with this
        # same function; this declaration documents the route in /openapi.json.
        return await issue_kubeconfig(backend, env_id, request)

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
        body, content_type = backend.metrics.exposition()
        return Response(body, media_type=content_type)


async def issue_kubeconfig(backend: Backend, env_id: str, request: Request) -> Response:
    check_env_id(env_id)  # before the body and before any authorization
    asked = kubeconfig_request(await check_body(request))
    issued = await run_in_threadpool(
        backend.issue,
        env_id,
        request.headers.get("authorization"),
        request_id(request),
        asked.level,
        asked.justification,
        asked.break_glass,
    )
    # A Response as is: Backend.issue builds exactly KubeconfigResponse's four strings,
    # and the hot path skips re-validating them through the model (response_model
    # still documents the body in /openapi.json).
    return JSONResponse(issued)


async def check_body(request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
    """Every JSON body route's body: bounded in size (MAX_BODY, or the route's own limit,
    e.g. a promotion's values) and depth (bodies.py)."""
    return json_object(await _bounded_body(request, limit))


async def _bounded_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, read no further than `limit`: a huge upload is refused, not buffered."""
    too_large = PayloadTooLarge("request body too large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)

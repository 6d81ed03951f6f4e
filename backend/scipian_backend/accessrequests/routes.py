"""The access request routes (docs/api.md, "Access requests"): each turns a request into a
call of accessrequests/service.py. Ids, names and bodies are checked before
authentication, as elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scipian_backend.accessrequests import bodies
from scipian_backend.accessrequests.schema import (
    CANCEL_REQUEST,
    CREATE_REQUEST,
    DECISION_REQUEST,
    NAME_MAX,
    NAME_PATTERN,
    REQUEST_ERRORS,
    AccessRequest,
    AccessRequestList,
    RequestName,
)
from scipian_backend.config import ENV_ID, valid_env_id
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.http.long_poll import ResourceVersion, get_or_watch
from scipian_backend.http.schema import EnvId
from scipian_backend.usecases import Backend

BASE = "/api/v1/accessrequests"
CREATE = "/api/v1/environments/{env_id}/accessrequests"
NAME = re.compile(NAME_PATTERN)


def install_access_request_routes(app: FastAPI, backend: Backend) -> None:
    def service() -> Any:
        if backend.access_requests is None:
            raise ServiceUnavailable("access requests are not configured")
        return backend.access_requests

    async def call(fn: Callable[..., Any], *args: Any) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(fn, *args))

    @app.post(
        CREATE,
        response_model=AccessRequest,
        status_code=201,
        responses=REQUEST_ERRORS,
        openapi_extra=CREATE_REQUEST,
    )
    async def create(env_id: EnvId, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        _env(env_id)
        req = bodies.create_request(await check_body(request))
        body = await run_in_threadpool(service().create, env_id, req, _auth(request), _rid(request))
        return JSONResponse(body, status_code=201)

    @app.get(BASE, response_model=AccessRequestList, responses=REQUEST_ERRORS)
    async def request_list(
        request: Request,
        environment: Annotated[str | None, Query(pattern=ENV_ID.pattern, max_length=63)] = None,
    ) -> JSONResponse:
        if environment is not None:
            _env(environment)
        return await call(service().list, _auth(request), _rid(request), environment)

    @app.get(BASE + "/{name}", response_model=AccessRequest, responses=REQUEST_ERRORS)
    async def request_get(
        name: RequestName,
        request: Request,
        watch: bool = False,
        resourceVersion: ResourceVersion = "",  # the API's spelling
    ) -> JSONResponse:
        return await get_or_watch(service, _name(name), watch, resourceVersion, request)

    for path, method in (
        ("approvals", "approve"),
        ("denials", "deny"),
        ("revoke", "revoke"),
    ):
        _decision_route(app, service, path, method)

    @app.post(
        BASE + "/{name}/cancel",
        response_model=AccessRequest,
        responses=REQUEST_ERRORS,
        openapi_extra=CANCEL_REQUEST,
    )
    async def cancel(name: RequestName, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        checked = _name(name)
        justification = bodies.cancel_request(await check_body(request))
        return await call(service().cancel, checked, justification, _auth(request), _rid(request))


def _decision_route(app: FastAPI, service: Callable[[], Any], path: str, method: str) -> None:
    async def decide(name: RequestName, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        checked = _name(name)
        justification = bodies.decision_request(await check_body(request))
        fn = getattr(service(), method)
        body = await run_in_threadpool(fn, checked, justification, _auth(request), _rid(request))
        return JSONResponse(body)

    app.add_api_route(
        f"{BASE}/{{name}}/{path}",
        decide,
        methods=["POST"],
        response_model=AccessRequest,
        responses=REQUEST_ERRORS,
        openapi_extra=DECISION_REQUEST,
        name=f"access_request_{method}",
    )


def _name(name: str) -> str:
    if len(name) > NAME_MAX or not NAME.fullmatch(name):
        raise BadRequest(
            f"access request name must be a DNS-1123 label of at most {NAME_MAX} characters"
        )
    return name


def _env(env_id: str) -> None:
    if not valid_env_id(env_id):
        raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")


def _auth(request: Request) -> str | None:
    return request.headers.get("authorization")


def _rid(request: Request) -> str:
    return str(request.state.request_id)

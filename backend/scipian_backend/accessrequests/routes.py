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
from scipian_backend.config import ENV_ID
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.http.calls import answer, authorization, check_env_id, request_id
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

    @app.post(
        CREATE,
        response_model=AccessRequest,
        status_code=201,
        responses=REQUEST_ERRORS,
        openapi_extra=CREATE_REQUEST,
    )
    async def create(env_id: EnvId, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        check_env_id(env_id)
        req = bodies.create_request(await check_body(request))
        body = await run_in_threadpool(
            service().create, env_id, req, authorization(request), request_id(request)
        )
        return JSONResponse(body, status_code=201)

    @app.get(BASE, response_model=AccessRequestList, responses=REQUEST_ERRORS)
    async def request_list(
        request: Request,
        environment: Annotated[str | None, Query(pattern=ENV_ID.pattern, max_length=63)] = None,
    ) -> JSONResponse:
        if environment is not None:
            check_env_id(environment)
        return await answer(
            service().list, authorization(request), request_id(request), environment
        )

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
        return await answer(
            service().cancel, checked, justification, authorization(request), request_id(request)
        )


def _decision_route(app: FastAPI, service: Callable[[], Any], path: str, method: str) -> None:
    async def decide(name: RequestName, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        checked = _name(name)
        justification = bodies.decision_request(await check_body(request))
        fn = getattr(service(), method)
        body = await run_in_threadpool(
            fn, checked, justification, authorization(request), request_id(request)
        )
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

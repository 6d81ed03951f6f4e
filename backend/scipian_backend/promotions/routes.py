"""The promotion routes (docs/api.md, "Promotions"): each turns a request into a call of
promotions/service.py. Names and bodies are checked before authentication, as elsewhere.
Version 1's step routes (the client ran helm) answer 410 with one line, outside the schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scipian_backend.errors import ApiError, BadRequest, ServiceUnavailable
from scipian_backend.http.calls import answer, authorization, check_env_id, request_id
from scipian_backend.http.long_poll import ResourceVersion, get_or_watch
from scipian_backend.promotions import bodies
from scipian_backend.promotions.schema import (
    APPROVAL_REQUEST,
    CANCEL_REQUEST,
    CREATE_REQUEST,
    PROMOTION_ERRORS,
    Promotion,
    PromotionList,
    PromotionName,
    StepEnv,
)
from scipian_backend.releases.queries import RELEASE_NAME
from scipian_backend.usecases import Backend

BASE = "/api/v1/promotions"
REMOVED = (
    "promotion steps are executed by the backend since version 2; "
    "watch with `kubectl scipian promotions NAME`"
)


class Gone(ApiError, status=410): ...


def install_promotion_routes(app: FastAPI, backend: Backend) -> None:
    def service() -> Any:
        if backend.promotions is None:
            raise ServiceUnavailable("promotions are not configured")
        return backend.promotions

    @app.post(
        BASE,
        response_model=Promotion,
        status_code=201,
        responses=PROMOTION_ERRORS,
        openapi_extra=CREATE_REQUEST,
    )
    async def create(request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        s = backend.settings
        doc = await check_body(request, s.promotion_body_max_bytes)
        req = bodies.create_request(doc, s.promotion_values_max_bytes)
        body = await run_in_threadpool(
            service().create, req, authorization(request), request_id(request)
        )
        return JSONResponse(body, status_code=201)

    @app.get(BASE, response_model=PromotionList, responses=PROMOTION_ERRORS)
    async def promotion_list(request: Request) -> JSONResponse:
        return await answer(service().list, authorization(request), request_id(request))

    @app.get(BASE + "/{name}", response_model=Promotion, responses=PROMOTION_ERRORS)
    async def promotion_get(
        name: PromotionName,
        request: Request,
        watch: bool = False,
        resourceVersion: ResourceVersion = "",  # the API's spelling
    ) -> JSONResponse:
        return await get_or_watch(service, _name(name), watch, resourceVersion, request)

    step = BASE + "/{name}/steps/{env_id}"

    @app.post(
        step + "/approvals",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=APPROVAL_REQUEST,
    )
    async def step_approve(name: PromotionName, env_id: StepEnv, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        ids = _ids(name, env_id)
        justification, digest = bodies.approval_request(await check_body(request))
        return await answer(
            service().approve,
            *ids,
            justification,
            digest,
            authorization(request),
            request_id(request),
        )

    @app.post(
        BASE + "/{name}/cancel",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=CANCEL_REQUEST,
    )
    async def cancel(name: PromotionName, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        checked = _name(name)
        justification = bodies.cancel_request(await check_body(request))
        return await answer(
            service().cancel, checked, justification, authorization(request), request_id(request)
        )

    async def removed(request: Request) -> JSONResponse:
        raise Gone(REMOVED)

    for path in (step + "/kubeconfig", step + "/report", step + "/verify", BASE + "/{name}/resume"):
        app.add_api_route(path, removed, methods=["POST"], include_in_schema=False)


def _name(name: str) -> str:
    if len(name) > 63 or not RELEASE_NAME.fullmatch(name):
        raise BadRequest("promotion name must be a DNS-1123 subdomain of at most 63 characters")
    return name


def _ids(name: str, env_id: str) -> tuple[str, str]:
    check_env_id(env_id)
    return _name(name), env_id

"""The promotion routes (docs/api.md, "Promotions"): each turns a request into a call of
promotions/service.py. Names and bodies are checked before authentication, as elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.promotions import bodies
from scipian_backend.promotions.schema import (
    APPROVAL_REQUEST,
    CREATE_REQUEST,
    EMPTY_REQUEST,
    PROMOTION_ERRORS,
    REPORT_REQUEST,
    RESUME_REQUEST,
    Promotion,
    PromotionList,
    PromotionName,
    StepEnv,
    StepKubeconfig,
)
from scipian_backend.releases.queries import RELEASE_NAME
from scipian_backend.usecases import Backend

BASE = "/api/v1/promotions"


def install_promotion_routes(app: FastAPI, backend: Backend) -> None:
    def service() -> Any:
        if backend.promotions is None:
            raise ServiceUnavailable("promotions are not configured")
        return backend.promotions

    async def call(fn: Callable[..., Any], *args: Any) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(fn, *args))

    @app.post(
        BASE,
        response_model=Promotion,
        status_code=201,
        responses=PROMOTION_ERRORS,
        openapi_extra=CREATE_REQUEST,
    )
    async def create(request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        req = bodies.create_request(await check_body(request))
        body = await run_in_threadpool(service().create, req, _auth(request), _rid(request))
        return JSONResponse(body, status_code=201)

    @app.get(BASE, response_model=PromotionList, responses=PROMOTION_ERRORS)
    async def promotion_list(request: Request) -> JSONResponse:
        return await call(service().list, _auth(request), _rid(request))

    @app.get(BASE + "/{name}", response_model=Promotion, responses=PROMOTION_ERRORS)
    async def promotion_get(name: PromotionName, request: Request) -> JSONResponse:
        return await call(service().get, _name(name), _auth(request), _rid(request))

    step = BASE + "/{name}/steps/{env_id}"

    @app.post(
        step + "/kubeconfig",
        response_model=StepKubeconfig,
        responses=PROMOTION_ERRORS,
        openapi_extra=EMPTY_REQUEST,
    )
    async def step_kubeconfig(
        name: PromotionName, env_id: StepEnv, request: Request
    ) -> JSONResponse:
        ids = _ids(name, env_id)
        await _empty(request)
        return await call(service().step_kubeconfig, *ids, _auth(request), _rid(request))

    @app.post(
        step + "/report",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=REPORT_REQUEST,
    )
    async def step_report(name: PromotionName, env_id: StepEnv, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        ids = _ids(name, env_id)
        report = bodies.report_request(await check_body(request))
        return await call(service().report, *ids, report, _auth(request), _rid(request))

    @app.post(
        step + "/verify",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=EMPTY_REQUEST,
    )
    async def step_verify(name: PromotionName, env_id: StepEnv, request: Request) -> JSONResponse:
        ids = _ids(name, env_id)
        await _empty(request)
        return await call(service().verify, *ids, _auth(request), _rid(request))

    @app.post(
        step + "/approvals",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=APPROVAL_REQUEST,
    )
    async def step_approve(name: PromotionName, env_id: StepEnv, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        ids = _ids(name, env_id)
        justification = bodies.approval_request(await check_body(request))
        return await call(service().approve, *ids, justification, _auth(request), _rid(request))

    @app.post(
        BASE + "/{name}/resume",
        response_model=Promotion,
        responses=PROMOTION_ERRORS,
        openapi_extra=RESUME_REQUEST,
    )
    async def resume(name: PromotionName, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        checked = _name(name)
        identity = bodies.resume_request(await check_body(request))
        return await call(service().resume, checked, identity, _auth(request), _rid(request))


def _name(name: str) -> str:
    if len(name) > 63 or not RELEASE_NAME.fullmatch(name):
        raise BadRequest("promotion name must be a DNS-1123 subdomain of at most 63 characters")
    return name


def _ids(name: str, env_id: str) -> tuple[str, str]:
    if not valid_env_id(env_id):
        raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")
    return _name(name), env_id


async def _empty(request: Request) -> None:
    from scipian_backend.http.routes import check_body

    bodies.empty_request(await check_body(request))


def _auth(request: Request) -> str | None:
    return request.headers.get("authorization")


def _rid(request: Request) -> str:
    return str(request.state.request_id)

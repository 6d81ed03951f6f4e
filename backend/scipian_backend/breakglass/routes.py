"""The break-glass routes (docs/api.md "Break-glass"): an environment's entries, and
acknowledging one. Ids and bodies are checked before authentication, as elsewhere."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from scipian_backend.breakglass.entries import ID, ID_MESSAGE
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.http.bodies import check_justification
from scipian_backend.http.calls import authorization, check_env_id, request_id
from scipian_backend.http.schema import ERRORS, EnvId, ErrorBody
from scipian_backend.promotions.schema import ACKNOWLEDGEMENT_REQUEST
from scipian_backend.usecases import Backend

BASE = "/api/v1/environments/{env_id}/breakglass"
EntryId = Annotated[str, Path(pattern=ID.pattern, max_length=16)]
ACK_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {
        "model": ErrorBody,
        "description": "not allowed to approve there; or the caller broke that glass",
    },
    404: {"model": ErrorBody, "description": "allowed, but no such environment or break-glass"},
    409: {"model": ErrorBody, "description": "already acknowledged"},
}


class Acknowledgement(BaseModel):
    user: str
    time: str
    justification: str


class Entry(BaseModel):
    environment: str
    id: str
    user: str
    time: str
    reason: str
    acknowledgement: Acknowledgement | None = None


class EntryList(BaseModel):
    environment: str
    items: list[Entry]


def install_break_glass_routes(app: FastAPI, backend: Backend) -> None:
    def service() -> Any:
        if backend.break_glass is None:
            raise ServiceUnavailable("break-glass is not configured")
        return backend.break_glass

    @app.get(BASE, response_model=EntryList, responses=ERRORS)
    async def entries(env_id: EnvId, request: Request) -> JSONResponse:
        check_env_id(env_id)
        found = await run_in_threadpool(
            service().entries, env_id, authorization(request), request_id(request)
        )
        return JSONResponse(found)

    @app.post(
        BASE + "/{entry_id}/acknowledgement",
        response_model=Entry,
        responses=ACK_ERRORS,
        openapi_extra=ACKNOWLEDGEMENT_REQUEST,
    )
    async def acknowledge(env_id: EnvId, entry_id: EntryId, request: Request) -> JSONResponse:
        from scipian_backend.http.routes import check_body

        check_env_id(env_id)
        if not ID.fullmatch(entry_id):
            raise BadRequest(ID_MESSAGE)
        doc = await check_body(request)
        unknown = sorted(set(doc) - {"justification"})
        if unknown:
            raise BadRequest(f"unknown field(s) in the request body: {', '.join(unknown)}"[:200])
        justification = check_justification(doc.get("justification"))
        done = await run_in_threadpool(
            service().acknowledge,
            env_id,
            entry_id,
            justification,
            authorization(request),
            request_id(request),
        )
        return JSONResponse(done)

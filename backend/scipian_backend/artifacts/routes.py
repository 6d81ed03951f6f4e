"""`PUT /api/v1/charts/sha256:<hex>?through=ENV,…` (docs/api.md "Chart uploads").

What needs no cluster is checked first, before the body is read: the reference, `through`,
the content type, the declared length; the body is then read no further than its own
limit (`--chart-max-bytes`), never buffered whole when larger."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from scipian_backend.artifacts.store import DIGEST
from scipian_backend.artifacts.upload import UnsupportedMediaType
from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.http.error_bodies import PayloadTooLarge
from scipian_backend.usecases import Backend

REF = DIGEST
CONTENT_TYPE = "application/gzip"


class ChartUpload(BaseModel):
    digest: str
    name: str
    version: str
    size: int


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text}
    for code, text in (
        (400, "bad reference, through, digest mismatch or archive"),
        (401, "not authenticated"),
        (403, "may not deploy to an environment of through"),
        (413, "body or decompressed archive too large"),
        (415, "Content-Type is not application/gzip"),
        (429, "uploads per hour, or unreferenced archives, per user"),
        (503, "no helm, or helm busy, or the management cluster unavailable"),
        (507, "the archive store is full"),
    )
}
UPLOAD_REQUEST = {
    "requestBody": {
        "required": True,
        "content": {CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def install_artifact_routes(app: FastAPI, backend: Backend) -> None:
    @app.put(
        "/api/v1/charts/{ref}",
        response_model=ChartUpload,
        responses={201: {"description": "stored", "model": ChartUpload}, **UPLOAD_ERRORS},
        openapi_extra=UPLOAD_REQUEST,
    )
    async def upload_chart(ref: str, request: Request, through: str = "") -> JSONResponse:
        s = backend.settings
        if not REF.fullmatch(ref):
            raise BadRequest("the chart reference must be sha256:<64 lowercase hex digits>")
        envs = parse_through(through, s.chart_max_through)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != CONTENT_TYPE:
            raise UnsupportedMediaType(f"Content-Type must be {CONTENT_TYPE}")
        if backend.artifacts is None:
            raise ServiceUnavailable("chart uploads need the backend's helm (serve --helm)")
        data = await bounded_body(request, s.chart_max_bytes)
        status, body = await run_in_threadpool(
            backend.artifacts.upload,
            ref,
            envs,
            data,
            request.headers.get("authorization"),
            str(request.state.request_id),
        )
        return JSONResponse(body, status_code=status)


def parse_through(text: str, most: int) -> list[str]:
    envs = text.split(",") if text else []
    if not envs:
        raise BadRequest("?through= must name the environments the chart is for")
    if len(envs) > most:
        raise BadRequest(f"?through= names at most {most} environments")
    if not all(valid_env_id(e) for e in envs):
        raise BadRequest("?through= holds an environment id that is not a DNS-1123 label")
    if len(set(envs)) != len(envs):
        raise BadRequest("?through= names an environment twice")
    return envs


async def bounded_body(request: Request, most: int) -> bytes:
    too_large = PayloadTooLarge(f"a chart archive is at most {most} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)

"""What every JSON route takes from a request and how it calls its service: the caller's
Authorization header and request id as the services take them, the environment id's
check, and a service call in the routes' thread pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest
from scipian_backend.http.schema import ENV_ID_MESSAGE


def authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


def request_id(request: Request) -> str:
    return str(request.state.request_id)


def check_env_id(env_id: str) -> None:
    if not valid_env_id(env_id):
        raise BadRequest(ENV_ID_MESSAGE)


async def answer(fn: Callable[..., Any], *args: Any) -> JSONResponse:
    """`fn(*args)` in the routes' thread pool; its result as the JSON answer (200)."""
    return JSONResponse(await run_in_threadpool(fn, *args))

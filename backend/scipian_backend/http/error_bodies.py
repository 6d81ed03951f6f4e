"""Every error leaves as the contract's JSON body {"reason", "message"} (docs/api.md)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from scipian_backend.errors import ApiError
from scipian_backend.http.schema import ENV_ID_MESSAGE

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
REASONS |= {
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}


class PayloadTooLarge(ApiError, status=413): ...


def error_response(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "message": message}, status_code=status)


def api_error_response(exc: ApiError) -> JSONResponse:
    body = {"reason": exc.reason, "message": exc.message, **(exc.fields or {})}
    response = JSONResponse(body, status_code=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="scipian"'
    # e.g. 429's Retry-After, the step-up's own WWW-Authenticate challenge
    response.headers.update(getattr(exc, "headers", {}))
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return api_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = REASONS.get(exc.status_code, "InternalError")
        return error_response(exc.status_code, reason, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if any(tuple(e.get("loc", ()))[:2] == ("path", "env_id") for e in exc.errors()):
            return error_response(400, "BadRequest", ENV_ID_MESSAGE)
        return error_response(400, "BadRequest", "malformed request")

"""The backend's own errors, mapped one-to-one onto the HTTP error contract (docs/api.md).

ApiError                 status, reason, message (safe to show: no upstream bodies)
├── BadRequest           400
├── Unauthorized         401
├── Forbidden            403
├── NotFound             404
├── InternalError        500
└── ServiceUnavailable   503  (management or target cluster, or the IdP, unreachable)
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    reason = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    status = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    reason = "Forbidden"


class NotFound(ApiError):
    status = 404
    reason = "NotFound"


class InternalError(ApiError):
    status = 500
    reason = "InternalError"


class ServiceUnavailable(ApiError):
    status = 503
    reason = "ServiceUnavailable"


class ConfigError(Exception):
    """Bad configuration or admin input: one line for the operator, exit 2."""

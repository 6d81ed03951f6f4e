"""The backend's own errors, mapped one-to-one onto the HTTP error contract (docs/api.md).

ApiError                 status, reason, message (safe to show: no upstream bodies)
├── BadRequest           400
├── Unauthorized         401
│   └── InsufficientUserAuthentication  401 + RFC 9470's challenge (step-up)
├── Forbidden            403
│   └── PromotionRequired  403 (a plain deploy credential on a gated environment, §2)
├── NotFound             404
├── Conflict             409  (promotions: a step or promotion in the wrong phase)
├── InternalError        500
└── ServiceUnavailable   503  (management or target cluster, or the IdP, unreachable)

Two more live beside the code that raises them: http.error_bodies.PayloadTooLarge (413)
and ratelimit.TooManyRequests (429). A subclass names its status once, in its class line;
its reason is its class name, as the contract spells it.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    reason = "InternalError"
    # More members of the JSON error body (a refused credential's `requestable`, §9).
    fields: dict[str, str] | None = None

    def __init_subclass__(cls, status: int = 500, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status
        cls.reason = cls.__name__

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError, status=400): ...


class Unauthorized(ApiError, status=401): ...


class InsufficientUserAuthentication(Unauthorized, status=401):
    """RFC 9470: the login behind the id_token is older than the environment allows (or its
    age is unknown). The challenge tells the client which `max_age` to log in with."""

    def __init__(self, message: str, max_age: int) -> None:
        super().__init__(message)
        self.max_age = max_age
        # RFC 6750 quoted-string: the message is ours (no quotes or backslashes in it).
        self.headers = {
            "WWW-Authenticate": (
                'Bearer error="insufficient_user_authentication", '
                f'error_description="{message}", max_age={max_age}'
            )
        }


class Forbidden(ApiError, status=403): ...


class PromotionRequired(Forbidden, status=403):
    """A plain deploy credential (or a v1 rollback record) on a gated environment: only a
    promotion changes it (change.md §2, §7); break-glass stays the way around."""


class NotFound(ApiError, status=404): ...


class Conflict(ApiError, status=409): ...


class InternalError(ApiError, status=500): ...


class ServiceUnavailable(ApiError, status=503): ...


class ConfigError(Exception):
    """Bad configuration or admin input: one line for the operator, exit 2."""

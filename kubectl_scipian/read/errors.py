"""What the read commands raise, in kubectl's words; `run()` prints them.

ReadError            a message printed as is on stderr, exit 1
├── UsageError       client-side `error: ...` (argument forms, flags)
├── StatusError      the apiserver answered with a Status (`Error from server ...`)
│   └── Unauthorized 401: the caller may refresh its credentials
└── TransportError   no answer: connection refused, TLS, timeouts
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit


class ReadError(Exception):
    """An error whose `message` is exactly what kubectl prints (without newline)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ReadError):
    pass


class StatusError(ReadError):
    def __init__(self, code: int, reason: str, text: str, status: dict[str, Any]) -> None:
        self.code = code
        self.reason = reason
        self.text = text
        self.status = status
        self.retry_after: int | None = None  # seconds, when the server asked for a retry
        super().__init__(format_status(reason, text))


class Unauthorized(StatusError):
    pass


class TransportError(ReadError):
    pass


def format_status(reason: str, text: str) -> str:
    # cmdutil.StandardErrorMessage
    if reason == "Unauthorized":
        return f"error: You must be logged in to the server ({text})"
    if reason:
        return f"Error from server ({reason}): {text}"
    return f"Error from server: {text}"


# -- kubectl's words for what the server or the transport did --------------------------

_MEDIA = "the server was unable to respond with a content type that the client supports"
_TIMEOUT = (
    "the server was unable to return a response in the time allotted,"
    " but may still be processing the request"
)
# client-go's messages for error responses that carry no Status body
# (k8s.io/apimachinery/pkg/api/errors NewGenericServerResponse).
_GENERIC: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", "the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: (
        "NotAcceptable",
        "the server was unable to respond with a content type that the client supports",
    ),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "the server has asked for the client to provide credentials"),
    413: ("RequestEntityTooLarge", "the server has rejected the request because it is too large"),
    415: (
        "UnsupportedMediaType",
        "the server was unable to respond with a content type that the client supports",
    ),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: ("InternalError", "an error on the server has prevented the request from succeeding"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", _TIMEOUT),
}


def status_error(code: int, body: Any) -> StatusError:
    """The Status the server sent, or client-go's words for its code."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    status: dict[str, Any] = {}
    try:
        parsed = json.loads(body or "")
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            status = parsed
    except ValueError:
        pass
    if status:
        reason = status.get("reason", "")
        text = status.get("message", "") or _GENERIC.get(code, ("", ""))[1]
    elif code in _GENERIC:
        reason, text = _GENERIC[code]
    else:
        reason, text = (
            "",
            f"an error on the server ({body}) has prevented the request from succeeding",
        )
    cls = Unauthorized if code == 401 else StatusError
    return cls(code, reason, text, status)


def _causes(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        nxt = getattr(cause, "reason", None)
        cause = nxt if isinstance(nxt, BaseException) else (cause.__cause__ or cause.__context__)


def transport_error(e: BaseException, server: str = "") -> TransportError:
    """Go's words where we know them (cmdutil.StandardErrorMessage for url.Error)."""
    causes = list(_causes(e))
    host = urlsplit(server).netloc
    if any(isinstance(c, ConnectionRefusedError) or "Connection refused" in str(c) for c in causes):
        return TransportError(
            f"The connection to the server {host} was refused"
            " - did you specify the right host or port?"
        )
    if any("CERTIFICATE_VERIFY_FAILED" in str(c) for c in causes):
        return TransportError(
            "Unable to connect to the server: tls: failed to verify certificate: "
            "x509: certificate signed by unknown authority"
        )
    if any(isinstance(c, (socket.timeout, TimeoutError)) for c in causes):
        return TransportError(f"Unable to connect to the server: dial tcp {host}: i/o timeout")
    return TransportError(f"Unable to connect to the server: {causes[-1]}")

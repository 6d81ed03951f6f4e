"""What the read commands raise; `run()` turns each into kubectl's words.

ReadError            a message printed as is on stderr, exit 1
├── UsageError       client-side `error: ...` (argument forms, flags)
├── StatusError      the apiserver answered with a Status (`Error from server ...`)
│   └── Unauthorized 401: the caller may refresh its credentials
└── TransportError   no answer: connection refused, TLS, timeouts
"""

from __future__ import annotations

from typing import Any


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

"""The access request routes' bodies for /openapi.json (docs/api.md, "Access requests")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from scipian_backend.accessrequests.bodies import MAX_DURATION, MAX_NAMESPACES
from scipian_backend.accessrequests.records import LEVELS, MIN_DURATION
from scipian_backend.config import ENV_ID
from scipian_backend.http.schema import (
    ERRORS,
    JUSTIFICATION,
    ErrorBody,
    StoredList,
    StoredObject,
    request_body,
)

# `<env[:40]>-<level>-<5 random>`: a DNS-1123 label of at most 53 characters.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
NAME_MAX = 53
RequestName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=NAME_MAX)]

REQUEST_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {
        "model": ErrorBody,
        "description": "not allowed (RBAC: request-read, request-deploy, approve), an approval, "
        "denial or revoke by the requester, a cancel by someone else",
    },
    404: {
        "model": ErrorBody,
        "description": "no such environment, or no such access request visible to the caller",
    },
    409: {
        "model": ErrorBody,
        "description": "the request is no longer in a phase that allows it; a second approval "
        "by the same user",
    },
    429: {"model": ErrorBody, "description": "the per-user caps: pending requests, creations"},
}


class AccessRequest(StoredObject):
    """The AccessRequest object as stored on the management cluster (docs/api.md)."""


class AccessRequestList(StoredList):
    items: list[AccessRequest]


_NAMESPACE = {"type": "string", "pattern": ENV_ID.pattern, "maxLength": 63}
CREATE_REQUEST = request_body(
    {
        "title": "AccessRequestCreate",
        "type": "object",
        "additionalProperties": False,
        "required": ["level", "durationSeconds", "justification"],
        # namespaces: deploy requests only
        "oneOf": [
            {"properties": {"level": {"const": "deploy"}}},
            {"properties": {"level": {"const": "read"}}, "not": {"required": ["namespaces"]}},
        ],
        "properties": {
            "level": {"type": "string", "enum": list(LEVELS)},
            "durationSeconds": {
                "type": "integer",
                "minimum": MIN_DURATION,
                "maximum": MAX_DURATION,
                "description": "the window's length from the approval; at most the "
                "Environment's spec.maxAccessSeconds (else 400)",
            },
            "justification": JUSTIFICATION,
            "namespaces": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_NAMESPACES,
                "uniqueItems": True,
                "items": _NAMESPACE,
                "description": "deploy only: a subset of the Environment's deploy namespaces "
                "(default: all of them)",
            },
        },
    }
)
DECISION_REQUEST = request_body(
    {
        "title": "AccessRequestDecision",
        "type": "object",
        "additionalProperties": False,
        "required": ["justification"],
        "properties": {"justification": JUSTIFICATION},
    }
)
CANCEL_REQUEST = request_body(
    {
        "title": "AccessRequestCancel",
        "type": "object",
        "additionalProperties": False,
        "properties": {"justification": JUSTIFICATION},
    },
    required=False,
)

"""The API's bodies as pydantic models: they document /openapi.json (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel

from scipian_backend.config import ENV_ID, JUSTIFICATION_PATTERN, MAX_JUSTIFICATION


class ErrorBody(BaseModel):
    reason: str
    message: str


class RefusalBody(ErrorBody):
    """A refused credential (403): `requestable` when RBAC lets the caller ask for access
    at that level (change.md §9), decided by that question alone (also for a missing id)."""

    requestable: Literal["read", "deploy"] | None = None


class StoredObject(BaseModel):
    """A custom object as stored on the management cluster (a Promotion, an AccessRequest):
    each route's model subclasses it for its name and description in /openapi.json."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    status: dict[str, Any] = {}


class StoredList(BaseModel):
    """A list of stored objects: subclasses add `items` with their own model."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]


def request_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """A route's `openapi_extra` for a JSON body it reads by hand (bounded: http/bodies.py)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


# A justification as http/bodies.check_justification takes it.
JUSTIFICATION: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_JUSTIFICATION,
    "pattern": JUSTIFICATION_PATTERN,
}


class Discovery(BaseModel):
    apiVersion: str
    issuer: str
    clientID: str
    scopes: list[str]
    usernamePrefix: str
    identityVersion: int  # the response model drops any field not named here


class EnvironmentItem(BaseModel):
    id: str
    description: str
    ttlSeconds: int
    # Only for callers who may deploy there: true when a promotion gate stands (change.md §2).
    gated: bool | None = None


class EnvironmentList(BaseModel):
    items: list[EnvironmentItem]


class KubeconfigResponse(BaseModel):
    environment: str
    user: str
    expirationTimestamp: str
    kubeconfig: str
    level: Literal["read", "deploy"] = "read"


# The route reads its body by hand (bounded, one clear 400 per problem: http/bodies.py);
# this documents exactly what it accepts in /openapi.json: an empty body, `{}` or
# `{"level": "read"}` for a read credential, or a deploy request with its justification.
KUBECONFIG_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "title": "KubeconfigRequest",
                    "oneOf": [
                        {
                            "title": "ReadRequest",
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"level": {"const": "read"}},
                        },
                        {
                            "title": "DeployRequest",
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["level", "justification"],
                            "properties": {
                                "level": {"const": "deploy"},
                                "breakGlass": {
                                    "type": "boolean",
                                    "description": "around the environment's promotion gate "
                                    "(requirePromotionFrom, approvals): audited, and a Warning "
                                    "Event BreakGlass on the Environment",
                                },
                                "justification": {
                                    **JUSTIFICATION,
                                    "description": "why (audited): one line, at least one "
                                    "visible character, no control or formatting characters",
                                },
                            },
                        },
                    ],
                }
            }
        },
    }
}


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": reason}
    for code, reason in {
        400: "malformed environment id or body",
        413: "request body larger than 64 KiB",
        401: "missing, invalid or expired id_token; or, for level deploy, a login older "
        "than the environment's maxAuthAgeSeconds (reason InsufficientUserAuthentication, "
        'WWW-Authenticate: Bearer error="insufficient_user_authentication", max_age=N)',
        403: "not allowed for this environment (whether it exists or not); for level "
        "deploy also: the environment has no deploy level, or a promotion gate (outside a "
        "promotion, without breakGlass)",
        404: "allowed, but no such environment",
        429: "too many requests from this user (issuance, reads or writes); see Retry-After",
        503: "management cluster, target cluster or OIDC provider unavailable",
    }.items()
}

# The kubeconfig route's 403 may carry `requestable`.
KUBECONFIG_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {
        "model": RefusalBody,
        "description": ERRORS[403]["description"]
        + "; `requestable` (read|deploy): an access request at that level may be asked for",
    },
}

ENV_ID_MESSAGE = "environment id must be a Kubernetes object name (DNS-1123 label)"
# What valid_env_id accepts, also in /openapi.json so that clients and fuzzers know it.
EnvId = Annotated[str, Path(pattern=ENV_ID.pattern, max_length=63)]

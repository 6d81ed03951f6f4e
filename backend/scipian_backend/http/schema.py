"""The API's bodies as pydantic models: they document /openapi.json (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

from scipian_backend.config import ENV_ID


class ErrorBody(BaseModel):
    reason: str
    message: str


class Discovery(BaseModel):
    apiVersion: str
    issuer: str
    clientID: str
    scopes: list[str]
    usernamePrefix: str


class EnvironmentItem(BaseModel):
    id: str
    description: str
    ttlSeconds: int


class EnvironmentList(BaseModel):
    items: list[EnvironmentItem]


class KubeconfigResponse(BaseModel):
    environment: str
    user: str
    expirationTimestamp: str
    kubeconfig: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": reason}
    for code, reason in {
        400: "malformed environment id or body",
        413: "request body larger than 64 KiB",
        401: "missing, invalid or expired id_token",
        403: "not allowed for this environment (whether it exists or not)",
        404: "allowed, but no such environment",
        429: "too many credential requests from this user; see Retry-After",
        503: "management cluster, target cluster or OIDC provider unavailable",
    }.items()
}

ENV_ID_MESSAGE = "environment id must be a Kubernetes object name (DNS-1123 label)"
# What valid_env_id accepts, also in /openapi.json so that clients and fuzzers know it.
EnvId = Annotated[str, Path(pattern=ENV_ID.pattern, max_length=63)]

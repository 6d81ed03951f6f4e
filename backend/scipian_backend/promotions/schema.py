"""The promotion routes' bodies for /openapi.json (docs/api.md, "Promotions")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel

from scipian_backend.config import (
    ENV_ID,
    JUSTIFICATION_FORBIDDEN,
    JUSTIFICATION_PATTERN,
    MAX_JUSTIFICATION,
)
from scipian_backend.http.schema import ERRORS, ErrorBody, KubeconfigResponse
from scipian_backend.promotions.bodies import (
    CHART_NAME,
    CHART_VERSION,
    DIGEST,
    MAX_MESSAGE,
    MAX_STEPS,
    SOAK,
    TIMEOUT,
)
from scipian_backend.releases.queries import NAMESPACE, RELEASE_NAME

# The Promotion object's name: the release's name and a suffix, at most 63 characters.
PromotionName = Annotated[str, Path(pattern=RELEASE_NAME.pattern, max_length=63)]
StepEnv = Annotated[str, Path(pattern=ENV_ID.pattern, max_length=63)]

PROMOTION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    403: {
        "model": ErrorBody,
        "description": "not allowed (RBAC), not the initiator, a self-approval, or a gate: "
        "an earlier step not Succeeded, the step before no longer verified, approvals missing",
    },
    404: {"model": ErrorBody, "description": "no such promotion, step or environment"},
    409: {
        "model": ErrorBody,
        "description": "another active promotion of the release, a promotion or step in "
        "the wrong phase, a second approval by the same user, another chart identity",
    },
}


class Promotion(BaseModel):
    """The Promotion object as stored on the management cluster (docs/api.md)."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    status: dict[str, Any] = {}


class PromotionList(BaseModel):
    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    items: list[Promotion]


class StepKubeconfig(KubeconfigResponse):
    promotion: str


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


_JUSTIFICATION = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_JUSTIFICATION,
    "pattern": JUSTIFICATION_PATTERN,
}
_DIGEST = {"type": "string", "pattern": DIGEST.pattern}
CREATE_REQUEST = _body(
    {
        "title": "PromotionRequest",
        "type": "object",
        "additionalProperties": False,
        "required": ["release", "namespace", "chart", "through", "justification"],
        "properties": {
            "release": {"type": "string", "pattern": RELEASE_NAME.pattern, "maxLength": 53},
            "namespace": {"type": "string", "pattern": NAMESPACE.pattern, "maxLength": 63},
            "chart": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "version", "identity"],
                "properties": {
                    "name": {"type": "string", "pattern": CHART_NAME.pattern},
                    "version": {"type": "string", "pattern": CHART_VERSION.pattern},
                    "identity": _DIGEST,
                },
            },
            "through": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_STEPS,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": ENV_ID.pattern, "maxLength": 63},
            },
            "justification": _JUSTIFICATION,
            "soakSeconds": {"type": "integer", "minimum": SOAK[0], "maximum": SOAK[1]},
            "timeoutSeconds": {"type": "integer", "minimum": TIMEOUT[0], "maximum": TIMEOUT[1]},
            "valuesDigests": {
                "type": "object",
                "description": "per environment of the chain (recorded only)",
                "propertyNames": {"pattern": ENV_ID.pattern, "maxLength": 63},
                "additionalProperties": _DIGEST,
            },
        },
    }
)
REPORT_REQUEST = _body(
    {
        "title": "StepReport",
        "type": "object",
        "additionalProperties": False,
        "required": ["helmExitCode"],
        "properties": {
            "helmExitCode": {"type": "integer", "minimum": 0, "maximum": 255},
            "message": {
                "type": "string",
                "maxLength": MAX_MESSAGE,
                "pattern": f"^[^{JUSTIFICATION_FORBIDDEN}]*$",
            },
        },
    }
)
APPROVAL_REQUEST = _body(
    {
        "title": "Approval",
        "type": "object",
        "additionalProperties": False,
        "required": ["justification"],
        "properties": {"justification": _JUSTIFICATION},
    }
)
RESUME_REQUEST = _body(
    {
        "title": "Resume",
        "type": "object",
        "additionalProperties": False,
        "required": ["chartIdentity"],
        "properties": {"chartIdentity": _DIGEST},
    }
)
EMPTY_REQUEST = _body(
    {"type": "object", "additionalProperties": False, "properties": {}}, required=False
)

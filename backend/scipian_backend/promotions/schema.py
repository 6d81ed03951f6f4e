"""The promotion routes' bodies for /openapi.json (docs/api.md, "Promotions")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from scipian_backend.config import ENV_ID
from scipian_backend.http.schema import (
    ERRORS,
    JUSTIFICATION,
    ErrorBody,
    StoredList,
    StoredObject,
    request_body,
)
from scipian_backend.promotions.bodies import (
    CHART_NAME,
    CHART_VERSION,
    DIGEST,
    FILE_NAME,
    MAX_FILES,
    MAX_REVISION,
    MAX_SET,
    MAX_SETS,
    MAX_STEPS,
    SET,
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
        "description": "not allowed (RBAC), a self-approval, a cancel by someone who may not",
    },
    404: {"model": ErrorBody, "description": "no such promotion, step, environment or revision"},
    409: {
        "model": ErrorBody,
        "description": "another active promotion of the release, a promotion or step in "
        "the wrong phase, a second approval by the same user, the diff changed since you "
        "read it (diffDigest)",
    },
    429: {"model": ErrorBody, "description": "the per-user caps: active promotions, creations"},
}


class Promotion(StoredObject):
    """The Promotion object as stored on the management cluster (docs/api.md)."""


class PromotionList(StoredList):
    items: list[Promotion]


_DIGEST = {"type": "string", "pattern": DIGEST.pattern}
_SCOPES = {"pattern": f"^(\\*|{ENV_ID.pattern[1:-1]})$", "maxLength": 63}
# SET as published: its `$` becomes "end of input" for every regex dialect (in Python's
# search `$` also matches before a final newline, which the backend's fullmatch refuses).
ONE_LINE_SET = SET.pattern.removesuffix("$") + r"(?![\s\S])"
# What base64.b64decode(validate=True) takes: the standard alphabet, padded.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
CREATE_REQUEST = request_body(
    {
        "title": "PromotionRequest",
        "type": "object",
        "description": "chart xor rollbackTo; values and sets at most 96 KiB in all (a serve "
        "flag); the body at most 160 KiB",
        "additionalProperties": False,
        "required": ["release", "namespace", "through", "justification"],
        # chart xor rollbackTo (bodies.create_request): a rollback is one step, takes the
        # revision's own values, and is the only kind that may break the glass.
        "oneOf": [
            {
                "required": ["chart"],
                "not": {
                    "anyOf": [
                        {"required": ["rollbackTo"]},
                        {"required": ["breakGlass"], "properties": {"breakGlass": {"const": True}}},
                    ]
                },
            },
            {
                "required": ["rollbackTo"],
                "properties": {"through": {"maxItems": 1}},
                "not": {
                    "anyOf": [
                        {"required": ["chart"]},
                        {"required": ["values"]},
                        {"required": ["set"]},
                    ]
                },
            },
        ],
        "properties": {
            "release": {"type": "string", "pattern": RELEASE_NAME.pattern, "maxLength": 53},
            "namespace": {"type": "string", "pattern": NAMESPACE.pattern, "maxLength": 63},
            "chart": {
                "type": "object",
                "description": "an uploaded archive (PUT /api/v1/charts/sha256:<hex>)",
                "additionalProperties": False,
                "required": ["digest", "name", "version"],
                "properties": {
                    "digest": _DIGEST,
                    "name": {"type": "string", "pattern": CHART_NAME.pattern},
                    "version": {"type": "string", "pattern": CHART_VERSION.pattern},
                },
            },
            "rollbackTo": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_REVISION,
                "description": "a one-step rollback to this revision (no chart, values or set)",
            },
            "breakGlass": {
                "type": "boolean",
                "description": "rollbacks only: no approvals, needs create environments/breakglass",
            },
            "through": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_STEPS,
                "uniqueItems": True,
                "items": {"type": "string", "pattern": ENV_ID.pattern, "maxLength": 63},
            },
            "justification": JUSTIFICATION,
            "soakSeconds": {"type": "integer", "minimum": SOAK[0], "maximum": SOAK[1]},
            "timeoutSeconds": {"type": "integer", "minimum": TIMEOUT[0], "maximum": TIMEOUT[1]},
            "values": {
                "type": "object",
                "description": 'values files per environment of the chain, or "*" for every '
                "step (first)",
                "maxProperties": MAX_STEPS + 1,
                "propertyNames": _SCOPES,
                "additionalProperties": {
                    "type": "array",
                    "maxItems": MAX_FILES,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "contentBase64"],
                        "properties": {
                            "name": {"type": "string", "pattern": FILE_NAME.pattern},
                            "contentBase64": {
                                "type": "string",
                                "contentEncoding": "base64",
                                "pattern": BASE64,
                            },
                        },
                    },
                },
            },
            "set": {
                "type": "object",
                "description": 'helm --set k=v per environment of the chain, or "*"',
                "maxProperties": MAX_STEPS + 1,
                "propertyNames": _SCOPES,
                "additionalProperties": {
                    "type": "array",
                    "maxItems": MAX_SETS,
                    "items": {"type": "string", "pattern": ONE_LINE_SET, "maxLength": MAX_SET},
                },
            },
        },
    }
)
APPROVAL_REQUEST = request_body(
    {
        "title": "Approval",
        "type": "object",
        "additionalProperties": False,
        "required": ["justification", "diffDigest"],
        "properties": {
            "justification": JUSTIFICATION,
            "diffDigest": {
                **_DIGEST,
                "description": "the digest of the diff the approver read (the step's "
                "renderDigest); otherwise 409",
            },
        },
    }
)
CANCEL_REQUEST = request_body(
    {
        "title": "Cancel",
        "type": "object",
        "additionalProperties": False,
        "required": ["justification"],
        "properties": {"justification": JUSTIFICATION},
    }
)
ACKNOWLEDGEMENT_REQUEST = request_body(
    {
        "title": "Acknowledgement",
        "type": "object",
        "additionalProperties": False,
        "required": ["justification"],
        "properties": {"justification": JUSTIFICATION},
    }
)

"""The access request routes' bodies, checked (pure). Unknown fields are refused; the rules
are the request schemas of /openapi.json (accessrequests/schema.py)."""

from __future__ import annotations

from typing import Any, NamedTuple

from scipian_backend.accessrequests.records import LEVELS, MIN_DURATION
from scipian_backend.config import MAX_ACCESS, valid_env_id
from scipian_backend.errors import BadRequest
from scipian_backend.http.bodies import check_justification, unknown_fields

MAX_DURATION = MAX_ACCESS  # the Environment CRD's maxAccessSeconds maximum
MAX_NAMESPACES = 64  # the Environment CRD's deploy.namespaces maximum


class CreateRequest(NamedTuple):
    level: str
    duration: int
    justification: str
    namespaces: tuple[str, ...]  # deploy only; empty: all the Environment's deploy namespaces


def create_request(doc: dict[str, Any]) -> CreateRequest:
    unknown_fields(doc, {"level", "durationSeconds", "justification", "namespaces"})
    level = doc.get("level")
    if level not in LEVELS:
        raise BadRequest('level must be "read" or "deploy"')
    duration = doc.get("durationSeconds")
    if isinstance(duration, float) and duration.is_integer():
        duration = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise BadRequest("durationSeconds must be an integer")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise BadRequest(f"durationSeconds must be between {MIN_DURATION} and {MAX_DURATION}")
    namespaces: tuple[str, ...] = ()
    if "namespaces" in doc:
        raw = doc["namespaces"]
        if level != "deploy":
            raise BadRequest("namespaces are for deploy requests only")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_NAMESPACES:
            raise BadRequest(f"namespaces must be a list of 1 to {MAX_NAMESPACES} namespaces")
        if not all(isinstance(n, str) and valid_env_id(n) for n in raw):
            raise BadRequest("namespaces must be DNS-1123 labels")
        if len(set(raw)) != len(raw):
            raise BadRequest("namespaces must not name a namespace twice")
        namespaces = tuple(sorted(raw))
    return CreateRequest(level, duration, _reason(doc.get("justification")), namespaces)


def decision_request(doc: dict[str, Any]) -> str:
    """An approval's, denial's or revoke's body: `{"justification"}`."""
    unknown_fields(doc, {"justification"})
    return _reason(doc.get("justification"))


def cancel_request(doc: dict[str, Any]) -> str:
    """A cancel's body: `{"justification"?}` ("" without one)."""
    unknown_fields(doc, {"justification"})
    if "justification" not in doc:
        return ""
    return _reason(doc["justification"])


def _reason(value: object) -> str:
    if value is None:
        raise BadRequest("an access request needs a justification (--reason)")
    return check_justification(value)

"""The promotion routes' request bodies, checked (pure). Unknown fields are refused; the
rules are the request schemas of /openapi.json (promotions/schema.py)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest
from scipian_backend.http.bodies import check_justification, check_text, unknown_fields
from scipian_backend.releases.queries import check_namespace, check_release

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
CHART_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
MAX_STEPS = 10
SOAK = (0, 86400)
TIMEOUT = (30, 3600)
DEFAULT_TIMEOUT = 300
MAX_MESSAGE = 1024


def digests_problem(req: CreateRequest) -> str | None:
    """valuesDigests may name only environments of the chain (checked after authorization,
    as the request schema cannot say it)."""
    stray = sorted(set(req.values_digests) - set(req.through))
    return (
        f"valuesDigests names environments not in the chain: {', '.join(stray)}" if stray else None
    )


class CreateRequest(NamedTuple):
    release: str
    namespace: str
    chart: dict[str, str]  # name, version, identity
    through: list[str]
    justification: str
    soak_seconds: int
    timeout_seconds: int
    values_digests: dict[str, str]


def _unknown(doc: dict[str, Any], allowed: set[str]) -> None:
    unknown_fields(doc, allowed)


def _int(doc: dict[str, Any], key: str, bounds: tuple[int, int], default: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer")
    if not bounds[0] <= value <= bounds[1]:
        raise BadRequest(f"{key} must be between {bounds[0]} and {bounds[1]}")
    return value


def create_request(doc: dict[str, Any]) -> CreateRequest:
    _unknown(doc, set(CreateRequest._fields) | {"soakSeconds", "timeoutSeconds", "valuesDigests"})
    for key in ("release", "namespace"):
        if not isinstance(doc.get(key), str):
            raise BadRequest(f"{key} must be a string")
    release = check_release(doc["release"])
    namespace = check_namespace(doc["namespace"])
    chart = doc.get("chart")
    if not isinstance(chart, dict):
        raise BadRequest("chart must be an object {name, version, identity}")
    _unknown(chart, {"name", "version", "identity"})
    for key, rule in (("name", CHART_NAME), ("version", CHART_VERSION), ("identity", DIGEST)):
        value = chart.get(key)
        if not isinstance(value, str) or not rule.fullmatch(value):
            raise BadRequest(f"chart.{key} must match {rule.pattern}")
    through = doc.get("through")
    if not isinstance(through, list) or not 1 <= len(through) <= MAX_STEPS:
        raise BadRequest(f"through must be a list of 1 to {MAX_STEPS} environment ids")
    if not all(isinstance(e, str) and valid_env_id(e) for e in through):
        raise BadRequest("through must name environments by id (DNS-1123 labels)")
    if len(set(through)) != len(through):
        raise BadRequest("through must not name an environment twice")
    digests = doc.get("valuesDigests", {})
    if not isinstance(digests, dict):
        raise BadRequest("valuesDigests must be an object {env: sha256:<hex>}")
    for env, digest in digests.items():
        if not valid_env_id(env) or not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise BadRequest("valuesDigests maps environment ids to sha256:<64 hex>")
    return CreateRequest(
        release,
        namespace,
        {"name": chart["name"], "version": chart["version"], "identity": chart["identity"]},
        list(through),
        check_justification(doc.get("justification")),
        _int(doc, "soakSeconds", SOAK, 0),
        _int(doc, "timeoutSeconds", TIMEOUT, DEFAULT_TIMEOUT),
        dict(digests),
    )


class Report(NamedTuple):
    helm_exit_code: int
    message: str


def report_request(doc: dict[str, Any]) -> Report:
    _unknown(doc, {"helmExitCode", "message"})
    code = _int(doc, "helmExitCode", (0, 255), -1) if "helmExitCode" in doc else None
    if code is None:
        raise BadRequest("helmExitCode must be an exit code (0..255)")
    # Printed to approvers' terminals and put into Events: no control or bidi characters.
    return Report(code, check_text(doc.get("message", ""), "message", MAX_MESSAGE))


def approval_request(doc: dict[str, Any]) -> str:
    _unknown(doc, {"justification"})
    return check_justification(doc.get("justification"))


def resume_request(doc: dict[str, Any]) -> str:
    _unknown(doc, {"chartIdentity"})
    identity = doc.get("chartIdentity")
    if not isinstance(identity, str) or not DIGEST.fullmatch(identity):
        raise BadRequest("chartIdentity must be sha256:<64 hex>")
    return identity


def empty_request(doc: dict[str, Any]) -> None:
    _unknown(doc, set())

"""The promotion routes' request bodies, checked (pure). Unknown fields are refused; the
rules are the request schemas of /openapi.json (promotions/schema.py)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, NamedTuple

from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest
from scipian_backend.http.bodies import check_justification, unknown_fields
from scipian_backend.releases.queries import check_namespace, check_release

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHART_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
CHART_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
MAX_STEPS = 10
SOAK = (0, 86400)
TIMEOUT = (30, 3600)
DEFAULT_TIMEOUT = 300


MAX_VALUES_BASE64 = 96 * 1024  # values' base64 text and sets, in all (change.md §5)
MAX_FILES = 20  # values files per scope ("*" or an environment)
MAX_SETS = 100  # sets per scope
MAX_SET = 4096  # characters of one `--set k=v`
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SET = re.compile(r"^[^=\s,\x00-\x1f\x7f][^=\x00-\x1f\x7f]*=[^\x00-\x1f\x7f]*$")
MAX_REVISION = 2**31 - 1
ALL = "*"


class CreateRequest(NamedTuple):
    release: str
    namespace: str
    chart: dict[str, str] | None  # digest, name, version; None for a rollback
    rollback_to: int | None
    break_glass: bool
    through: list[str]
    justification: str
    soak_seconds: int
    timeout_seconds: int
    values: dict[str, list[tuple[str, bytes]]]  # scope ("*" or env) -> files in order
    sets: dict[str, list[str]]  # scope -> `k=v` in order


def scopes_problem(req: CreateRequest) -> str | None:
    """values and set may name only environments of the chain, or "*" (checked after
    authorization, as the request schema cannot say it)."""
    stray = sorted((set(req.values) | set(req.sets)) - set(req.through) - {ALL})
    return (
        f"values and set name environments not in the chain: {', '.join(stray)}" if stray else None
    )


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


def _scope(key: object, field: str) -> str:
    if not isinstance(key, str) or not (key == ALL or valid_env_id(key)):
        raise BadRequest(f'{field} maps environment ids (or "*") to lists')
    return key


def _values(doc: dict[str, Any], most: int) -> tuple[dict[str, list[tuple[str, bytes]]], int]:
    """`values`: {scope: [{name, contentBase64}]}; its base64 text's total length."""
    raw = doc.get("values", {})
    if not isinstance(raw, dict) or len(raw) > MAX_STEPS + 1:
        raise BadRequest(f"values must be an object of at most {MAX_STEPS + 1} scopes")
    out: dict[str, list[tuple[str, bytes]]] = {}
    total = 0
    for key, files in raw.items():
        scope = _scope(key, "values")
        if not isinstance(files, list) or len(files) > MAX_FILES:
            raise BadRequest(f"values.{scope} must be a list of at most {MAX_FILES} files")
        found: list[tuple[str, bytes]] = []
        for f in files:
            if not isinstance(f, dict):
                raise BadRequest("each values file must be an object {name, contentBase64}")
            _unknown(f, {"name", "contentBase64"})
            name, text = f.get("name"), f.get("contentBase64")
            if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
                raise BadRequest(f"a values file's name must match {FILE_NAME.pattern}")
            if not isinstance(text, str):
                raise BadRequest("contentBase64 must be a string")
            total += len(text)
            if total > most:
                raise BadRequest(f"values and sets exceed {most} bytes in all")
            try:
                found.append((name, base64.b64decode(text, validate=True)))
            except (ValueError, binascii.Error):
                raise BadRequest(f"values file {name}: contentBase64 is not base64") from None
        out[scope] = found
    return out, total


def _sets(doc: dict[str, Any], total: int, most: int) -> dict[str, list[str]]:
    raw = doc.get("set", {})
    if not isinstance(raw, dict) or len(raw) > MAX_STEPS + 1:
        raise BadRequest(f"set must be an object of at most {MAX_STEPS + 1} scopes")
    out: dict[str, list[str]] = {}
    for key, sets in raw.items():
        scope = _scope(key, "set")
        if not isinstance(sets, list) or len(sets) > MAX_SETS:
            raise BadRequest(f"set.{scope} must be a list of at most {MAX_SETS} k=v strings")
        for item in sets:
            if not isinstance(item, str) or len(item) > MAX_SET or not SET.fullmatch(item):
                raise BadRequest(f"each set must be one line k=v of at most {MAX_SET} characters")
            total += len(item)
            if total > most:
                raise BadRequest(f"values and sets exceed {most} bytes in all")
        out[scope] = list(sets)
    return out


def create_request(doc: dict[str, Any], most: int = MAX_VALUES_BASE64) -> CreateRequest:
    """The create body; `most`: bytes of values' base64 and sets in all (a serve flag)."""
    _unknown(
        doc,
        {"release", "namespace", "chart", "rollbackTo", "breakGlass", "through", "justification"}
        | {"soakSeconds", "timeoutSeconds", "values", "set"},
    )
    for key in ("release", "namespace"):
        if not isinstance(doc.get(key), str):
            raise BadRequest(f"{key} must be a string")
    release = check_release(doc["release"])
    namespace = check_namespace(doc["namespace"])
    if ("chart" in doc) == ("rollbackTo" in doc):
        raise BadRequest("a promotion has either chart or rollbackTo")
    chart: dict[str, str] | None = None
    rollback_to: int | None = None
    if "chart" in doc:
        raw = doc["chart"]
        if not isinstance(raw, dict):
            raise BadRequest("chart must be an object {digest, name, version}")
        _unknown(raw, {"digest", "name", "version"})
        for key, rule in (("digest", DIGEST), ("name", CHART_NAME), ("version", CHART_VERSION)):
            value = raw.get(key)
            if not isinstance(value, str) or not rule.fullmatch(value):
                raise BadRequest(f"chart.{key} must match {rule.pattern}")
        chart = {"digest": raw["digest"], "name": raw["name"], "version": raw["version"]}
    else:
        rollback_to = _int(doc, "rollbackTo", (1, MAX_REVISION), 0)
    glass = doc.get("breakGlass", False)
    if not isinstance(glass, bool):
        raise BadRequest("breakGlass must be a boolean")
    if glass and rollback_to is None:
        raise BadRequest("breakGlass is for rollbacks only (rollbackTo)")
    through = doc.get("through")
    if not isinstance(through, list) or not 1 <= len(through) <= MAX_STEPS:
        raise BadRequest(f"through must be a list of 1 to {MAX_STEPS} environment ids")
    if not all(isinstance(e, str) and valid_env_id(e) for e in through):
        raise BadRequest("through must name environments by id (DNS-1123 labels)")
    if len(set(through)) != len(through):
        raise BadRequest("through must not name an environment twice")
    if rollback_to is not None and len(through) != 1:
        raise BadRequest("a rollback is one step: through names one environment")
    values, total = _values(doc, most)
    sets = _sets(doc, total, most)
    if rollback_to is not None and (any(values.values()) or any(sets.values())):
        raise BadRequest("a rollback takes the revision's own values: no values or set")
    return CreateRequest(
        release,
        namespace,
        chart,
        rollback_to,
        glass,
        list(through),
        check_justification(doc.get("justification")),
        _int(doc, "soakSeconds", SOAK, 0),
        _int(doc, "timeoutSeconds", TIMEOUT, DEFAULT_TIMEOUT),
        values,
        sets,
    )


def approval_request(doc: dict[str, Any]) -> tuple[str, str]:
    """(justification, diffDigest): the approval binds the diff its approver read."""
    _unknown(doc, {"justification", "diffDigest"})
    digest = doc.get("diffDigest")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise BadRequest("diffDigest must be sha256:<64 hex> (the diff's digest)")
    return check_justification(doc.get("justification")), digest


def cancel_request(doc: dict[str, Any]) -> str:
    _unknown(doc, {"justification"})
    return check_justification(doc.get("justification"))

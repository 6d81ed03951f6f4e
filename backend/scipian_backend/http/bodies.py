"""The kubeconfig request's body, checked (pure): `{"level": "read"|"deploy", "justification",
"breakGlass"?}` (breakGlass: deploy only, around a promotion gate).

`level` defaults to `read`. A deploy request needs a justification: 1 to 512 characters
with at least one visible one and no control, formatting or line-breaking characters
(config.JUSTIFICATION_FORBIDDEN: it goes into audit lines and Events as one line). A read
request must not carry one: a justification nobody audits would suggest otherwise to the
person who typed it. Unknown fields are refused. These rules are the request schema of
/openapi.json (http/schema.py), so a schema-valid body is never refused (lone surrogates
aside, which the schema's regex cannot name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from scipian_backend.config import JUSTIFICATION_FORBIDDEN, LEVELS, MAX_JUSTIFICATION
from scipian_backend.errors import BadRequest

FORBIDDEN = re.compile(f"[{JUSTIFICATION_FORBIDDEN}\\ud800-\\udfff]")
# No request body of the API nests deeper than 3 levels; a deep one is an attack on the
# parser (json's recursion ends in RecursionError, which is not a ValueError).
MAX_DEPTH = 32
DEPTH_MESSAGE = f"request body nests deeper than {MAX_DEPTH} levels"
NOT_OBJECT = "request body must be a JSON object"


def json_object(body: bytes) -> dict[str, Any]:
    """A request body (already bounded in size) as a JSON object, at most MAX_DEPTH deep;
    empty: {}. BadRequest, with one line, for anything else."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except RecursionError:
        raise BadRequest(DEPTH_MESSAGE) from None
    except ValueError:  # UnicodeDecodeError too
        raise BadRequest(NOT_OBJECT) from None
    if not isinstance(doc, dict):
        raise BadRequest(NOT_OBJECT)
    if depth_over(doc, MAX_DEPTH):
        raise BadRequest(DEPTH_MESSAGE)
    return doc


def depth_over(doc: object, limit: int) -> bool:
    """Whether `doc` nests objects and arrays deeper than `limit` (`{}`: 1); iterative."""
    todo: list[tuple[object, int]] = [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        children: Iterable[object]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        todo.extend((child, depth + 1) for child in children)
    return False


def visible(text: str) -> str:
    """`text` with every forbidden character as a visible escape (\\x1b, \\u202e): for
    error messages that quote what a client sent."""
    return FORBIDDEN.sub(lambda m: _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def unknown_fields(doc: dict[str, Any], allowed: set[str]) -> None:
    """BadRequest naming the fields beyond `allowed` (escaped, bounded)."""
    unknown = sorted(set(doc) - allowed)
    if unknown:
        names = visible(", ".join(unknown))
        raise BadRequest(f"unknown field(s) in the request body: {names}"[:200])


def check_text(value: object, name: str, most: int) -> str:
    """A free text (a report's message): a string of at most `most` characters, on one
    line, without control, formatting or bidi characters (it reaches Events, audit lines
    and terminals)."""
    if not isinstance(value, str) or len(value) > most:
        raise BadRequest(f"{name} must be a string of at most {most} characters")
    if FORBIDDEN.search(value):
        raise BadRequest(f"{name} must be printable text on one line (no control characters)")
    return value


class KubeconfigRequest(NamedTuple):
    level: str = "read"
    justification: str = ""
    break_glass: bool = False  # deploy only: around the environment's promotion gate


def kubeconfig_request(doc: dict[str, Any]) -> KubeconfigRequest:
    unknown_fields(doc, {"level", "justification", "breakGlass"})
    level = doc.get("level", "read")
    if level not in LEVELS:
        raise BadRequest('level must be "read" or "deploy"')
    justification = doc.get("justification")
    break_glass = doc.get("breakGlass", False)
    if not isinstance(break_glass, bool):
        raise BadRequest("breakGlass must be true or false")
    if level == "read":
        if justification is not None:
            raise BadRequest("justification is only for level deploy")
        if "breakGlass" in doc:
            raise BadRequest("breakGlass is only for level deploy")
        return KubeconfigRequest()
    return KubeconfigRequest("deploy", check_justification(justification), break_glass)


def check_justification(value: object) -> str:
    if value is None:
        raise BadRequest("a deploy credential needs a justification (--reason)")
    if not isinstance(value, str):
        raise BadRequest("justification must be a string")
    if len(value) > MAX_JUSTIFICATION:
        raise BadRequest(f"justification is longer than {MAX_JUSTIFICATION} characters")
    if FORBIDDEN.search(value):
        raise BadRequest("justification must be printable text on one line (no control characters)")
    if not value.strip():
        raise BadRequest("a deploy credential needs a justification (--reason)")
    return value

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

import re
from typing import Any, NamedTuple

from scipian_backend.config import JUSTIFICATION_FORBIDDEN, LEVELS, MAX_JUSTIFICATION
from scipian_backend.errors import BadRequest

FORBIDDEN = re.compile(f"[{JUSTIFICATION_FORBIDDEN}\\ud800-\\udfff]")


class KubeconfigRequest(NamedTuple):
    level: str = "read"
    justification: str = ""
    break_glass: bool = False  # deploy only: around the environment's promotion gate


def kubeconfig_request(doc: dict[str, Any]) -> KubeconfigRequest:
    unknown = sorted(set(doc) - {"level", "justification", "breakGlass"})
    if unknown:
        raise BadRequest(f"unknown field(s) in the request body: {', '.join(unknown)}"[:200])
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

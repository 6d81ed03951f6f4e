"""The kubeconfig request's body, checked (pure): `{"level": "read"|"deploy", "justification"}`.

`level` defaults to `read`. A deploy request needs a justification: 1 to 512 printable
characters (no control characters, no line breaks: it goes into audit lines and Events
as one line). A read request must not carry one: a justification nobody audits would
suggest otherwise to the person who typed it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scipian_backend.config import LEVELS, MAX_JUSTIFICATION
from scipian_backend.errors import BadRequest


class KubeconfigRequest(NamedTuple):
    level: str = "read"
    justification: str = ""


def kubeconfig_request(doc: dict[str, Any]) -> KubeconfigRequest:
    unknown = sorted(set(doc) - {"level", "justification"})
    if unknown:
        raise BadRequest(f"unknown field(s) in the request body: {', '.join(unknown)}"[:200])
    level = doc.get("level", "read")
    if level not in LEVELS:
        raise BadRequest('level must be "read" or "deploy"')
    justification = doc.get("justification")
    if level == "read":
        if justification is not None:
            raise BadRequest("justification is only for level deploy")
        return KubeconfigRequest()
    return KubeconfigRequest("deploy", check_justification(justification))


def check_justification(value: object) -> str:
    if value is None:
        raise BadRequest("a deploy credential needs a justification (--reason)")
    if not isinstance(value, str):
        raise BadRequest("justification must be a string")
    text = value.strip()
    if not text:
        raise BadRequest("a deploy credential needs a justification (--reason)")
    if len(text) > MAX_JUSTIFICATION:
        raise BadRequest(f"justification is longer than {MAX_JUSTIFICATION} characters")
    if not text.isprintable():
        raise BadRequest("justification must be printable text on one line (no control characters)")
    return text

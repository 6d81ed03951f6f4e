"""helm's own `-o json` of a run (install/upgrade/rollback/status), parsed within bounds.

This is the evidence of a run (change.md §5 "Verification"); it never leaves the backend:
no field of it goes into a response, an Event or a log above debug.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from scipian_backend.releases.records import _deeper_than

MAX_BYTES = 32 * 1024 * 1024  # as the sandbox's output cap
MAX_DEPTH = 100


class OutputError(ValueError):
    """helm's output is not a release (message names why, never the output)."""


@dataclass
class ReleaseOut:
    name: str
    namespace: str
    revision: int
    status: str
    manifest: str
    hooks: list[str] = field(default_factory=list)  # each hook's manifest
    config: dict[str, Any] = field(default_factory=dict)
    chart_name: str = ""
    chart_version: str = ""


def release_json(
    stdout: bytes, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> ReleaseOut:
    if len(stdout) > max_bytes:
        raise OutputError(f"helm's output is larger than {max_bytes} bytes")
    try:
        doc = json.loads(stdout)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OutputError("helm's output is not JSON") from None
    if not isinstance(doc, dict):
        raise OutputError("helm's output is not a JSON object")
    if _deeper_than(doc, max_depth):
        raise OutputError(f"helm's output nests deeper than {max_depth} levels")
    return release_of(doc)


def release_of(doc: dict[str, Any]) -> ReleaseOut:
    """A release object as helm writes it (its -o json, or a decoded record)."""
    info = _dict(doc.get("info"))
    meta = _dict(_dict(doc.get("chart")).get("metadata"))
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise OutputError("helm's output has no revision")
    manifest = doc.get("manifest")
    if not isinstance(manifest, str):
        manifest = ""
    hooks = []
    for h in doc.get("hooks") or []:
        if isinstance(h, dict) and isinstance(h.get("manifest"), str):
            hooks.append(h["manifest"])
    config = doc.get("config")
    return ReleaseOut(
        name=str(doc.get("name") or ""),
        namespace=str(doc.get("namespace") or ""),
        revision=version,
        status=str(info.get("status") or ""),
        manifest=manifest,
        hooks=hooks,
        config=config if isinstance(config, dict) else {},
        chart_name=str(meta.get("name") or ""),
        chart_version=str(meta.get("version") or ""),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}

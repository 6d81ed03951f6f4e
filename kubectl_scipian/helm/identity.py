"""A chart's identity: what a promotion pins, computed from Helm's own loading of the chart.

The same function as the backend's (backend/scipian_backend/releases/identity.py): the
sha256 of a canonical JSON of the release record's `chart` (metadata, templates, values,
files). Helm 4 stamps every template and file with a `modtime` (a directory's file times,
a .tgz's entry times; Helm 3 has none), so entries keep only name and data, in helm's
order: a fresh checkout, a `helm package` of it and either Helm major agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEYS = ("metadata", "templates", "values", "files")


def _entries(value: object) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not value:
        return None
    return [{"name": e.get("name"), "data": e.get("data")} for e in value if isinstance(e, dict)]


def identity(chart: dict[str, Any]) -> str:
    """`sha256:<hex>` of the chart object of a release (or of a dry run's release)."""
    doc = {
        "metadata": chart.get("metadata") or None,
        "templates": _entries(chart.get("templates")),
        "values": chart.get("values") or None,
        "files": _entries(chart.get("files")),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

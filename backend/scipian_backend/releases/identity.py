"""The chart identity of a release (docs/api.md, "Chart identity"), pure.

`"sha256:" + sha256` of a canonical JSON serialization of the release's `chart` object:
its metadata, templates, values and files. The plugin computes it from Helm's own loading
of the chart it is about to install (`helm upgrade --install --dry-run=client -o json`),
the backend from the release record on the target; both must agree byte for byte.

Normalised: a template or file counts by its name and data only. Helm 4 records each
one's `modtime` (the file's mtime when loaded from a directory, the archive entry's time
from a .tgz), so the same chart from a directory, a .tgz or a fresh checkout would
otherwise differ.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PARTS = ("metadata", "templates", "values", "files")


def _entries(value: object) -> object:
    """A list of chart files as [{name, data}]; anything else as is (None when empty)."""
    if not value:
        return None
    if not isinstance(value, list):
        return value
    return [
        {"name": f.get("name"), "data": f.get("data")} if isinstance(f, dict) else f for f in value
    ]


def chart_identity(chart: dict[str, Any]) -> str:
    doc = {
        k: (_entries(chart.get(k)) if k in ("templates", "files") else (chart.get(k) or None))
        for k in PARTS
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

"""The generic describer (every kind without a built-in layout, custom resources included)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import header, print_annotations, print_labels
from kubectl_scipian.read.humanize import smart_label
from kubectl_scipian.read.printers.table import go_sprint

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

SKIP = {
    ".metadata.managedFields",
    ".metadata.name",
    ".metadata.namespace",
    ".metadata.labels",
    ".metadata.annotations",
}


def generic(session: Session, res: Resource, obj: dict[str, Any], w: Out, events: bool) -> None:
    meta = obj.get("metadata") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    content(w, 0, obj, "")
    if events:
        describe_events(session, obj, w, res.kind)


def _v(value: Any) -> str:
    return value if isinstance(value, str) else go_sprint(value)


def content(w: Out, level: int, obj: dict[str, Any], prefix: str) -> None:
    """printUnstructuredContent: sorted fields, nested maps indented, list items flattened."""
    for field in sorted(obj):
        value = obj[field]
        path = f"{prefix}.{field}"
        if path in SKIP:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(field)}:\n")
            content(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(field)}:\n")
            for child in value:
                if isinstance(child, dict):
                    content(w, level + 1, child, path)
                else:
                    w.write(level + 1, f"{_v(child)}\n")
        else:
            w.write(level, f"{smart_label(field)}:\t{_v(value)}\n")

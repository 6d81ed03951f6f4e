"""Pieces every describer prints: labels, annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_scipian.read.describe import Out

MAX_ANNOTATION_LEN = 140
SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}


def print_labels(w: Out, title: str, values: dict[str, str] | None) -> None:
    """printLabelsMultiline."""
    w.write(0, f"{title}:\t")
    if not values:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(sorted(values)):
        if i:
            w.write(0, "\t")
        w.write(0, f"{key}={values[key]}\n")


def _shorten(s: str, n: int) -> str:
    return s[:n] + "..." if len(s) > n else s


def print_annotations(w: Out, title: str, values: dict[str, str] | None) -> None:
    """printAnnotationsMultiline: long or multi-line values get their own lines."""
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in values or {} if k not in SKIP_ANNOTATIONS)
    if not keys or values is None:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = values[key].removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for s in value.split("\n"):
                w.write(0, f"\t  {_shorten(s, MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(0, f"{key}: {value}\n")

"""A failed helm run as a classified reason (change.md §5, "What a promotion shows"; pure).

helm's own stderr can carry anything a chart put there (a looked-up Secret in a `fail`
message, an apiserver error quoting a value): it goes to the debug log only. What a
promotion shows is one of a few fixed reasons; the only words taken from helm's output
are an object's KIND/NAME, and only when that object is one the approved render holds
(so nothing a template computed from the cluster can come through).
"""

from __future__ import annotations

import re
from collections.abc import Collection

TIMEOUT = "timeout"
RENDERING = "rendering failed"
DIFFERS = "rendered manifest differs from the approved one"
ROLLED_BACK = "rolled back"
REFUSED = "apply refused by the API server"
VALUES = "values digest mismatch"
CANCELLED = "cancelled"

_TIMEOUT_MARKS = (
    "context deadline exceeded",
    "timed out waiting for the condition",
    "timed out waiting",
    "i/o timeout",
)
_RENDER_MARKS = (
    "parse error",
    "template: ",
    "execution error at",
    "unable to build kubernetes objects from release manifest",
    "error converting yaml to json",
    "chart requires kubeversion",
    "values don't meet the specifications of the schema",
)
_ROLLED_BACK_MARKS = ("has been rolled back", "has been uninstalled due to")
# `Deployment.apps "web" is invalid`, `secrets "x" is forbidden`, `... "x" already exists`
_REFUSED_OBJECT = re.compile(
    r'\b([A-Za-z][A-Za-z0-9]*)(?:\.[a-z0-9.-]+)? "([a-z0-9][a-z0-9.-]{0,252})" '
    r"(?:is invalid|is forbidden|already exists|not found)"
)
# helm's own wording around a refused apply: `failed to create resource: …`,
# `cannot patch "web" with kind Deployment: …`
_CANNOT_PATCH = re.compile(r'cannot patch "([a-z0-9][a-z0-9.-]{0,252})" with kind ([A-Za-z0-9]+)')
# Helm 4's server-side apply: `… failed for object shop/web apps/v1, Kind=Deployment`
_SSA_OBJECT = re.compile(
    r"(?:failed for|while applying) object (?:[a-z0-9.-]+/)?([a-z0-9][a-z0-9.-]{0,252}) "
    r"[^,\s]*, Kind=([A-Za-z0-9]+)"
)
_REFUSED_MARKS = (
    "server-side apply failed",
    "failed to create resource",
    "failed to replace object",
    "failed to update resource",
    "admission webhook",
    "validatingadmissionpolicy",
    "is forbidden",
    "is invalid",
    "cannot patch",
    "conflict occurred while applying",
)


def classify(
    code: int, stderr: bytes, reason: str, objects: Collection[tuple[str, str]] = ()
) -> str:
    """The reason a helm upgrade (or rollback) failed. `reason` is the sandbox's ("timeout"
    when it ended the run, "cancelled", "killed", "output"); `objects` the (kind, name)
    pairs of the approved render, the only names a reason may carry."""
    if reason == "timeout":
        return TIMEOUT
    if reason == "cancelled":
        return CANCELLED
    text = stderr.decode("utf-8", "replace")
    low = text.lower()
    if any(mark in low for mark in _TIMEOUT_MARKS):
        return TIMEOUT
    refused = _refused(text, low, objects)
    if refused:
        return refused
    if any(mark in low for mark in _RENDER_MARKS):
        return RENDERING
    if any(mark in low for mark in _ROLLED_BACK_MARKS):
        return ROLLED_BACK
    if reason in ("killed", "output"):
        return f"helm stopped ({reason})"
    return f"helm failed (exit code {code})"


def _refused(text: str, low: str, objects: Collection[tuple[str, str]]) -> str:
    if not any(mark in low for mark in _REFUSED_MARKS):
        return ""
    known = {(k.lower(), n) for k, n in objects}
    for m in [*_SSA_OBJECT.finditer(text), *_CANNOT_PATCH.finditer(text)]:
        name, kind = m.group(1), m.group(2)
        if (kind.lower(), name) in known:
            return f"{REFUSED}: {_kind_of(kind, objects)}/{name}"
    for m in _REFUSED_OBJECT.finditer(text):
        kind, name = m.group(1), m.group(2)
        match = _find(kind, name, objects)
        if match:
            return f"{REFUSED}: {match}"
    return REFUSED


def _kind_of(kind: str, objects: Collection[tuple[str, str]]) -> str:
    for k, _ in objects:
        if k.lower() == kind.lower():
            return k
    return kind


def _find(kind: str, name: str, objects: Collection[tuple[str, str]]) -> str:
    """KIND/NAME of the render's object that an apiserver message names (its kind may be
    a plural resource, `secrets`, or a Kind, `Deployment`)."""
    low = kind.lower()
    for k, n in objects:
        if n != name:
            continue
        kl = k.lower()
        if low in (kl, kl + "s", kl + "es", kl[:-1] + "ies" if kl.endswith("y") else kl):
            return f"{k}/{n}"
    return ""

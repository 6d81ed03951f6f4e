"""Describers for the simple core kinds: ConfigMap, Namespace, Secret, ServiceAccount."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    header,
    print_annotations,
    print_labels,
    rfc1123z,
)
from kubectl_scipian.read.describers.quota import limit_section, quota_section
from kubectl_scipian.read.errors import StatusError

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


def configmap(session: Session, res: Resource, obj: dict[str, Any], w: Out, events: bool) -> None:
    meta = obj.get("metadata") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "\nData\n====\n")
    for k, v in sorted((obj.get("data") or {}).items()):
        w.write(0, f"{k}:\n----\n")
        w.write(0, f"{v}\n")
        w.write(0, "\n")
    w.write(0, "\nBinaryData\n====\n")
    for k, v in sorted((obj.get("binaryData") or {}).items()):
        w.write(0, f"{k}: {len(base64.b64decode(v))} bytes\n")
    w.write(0, "\n")
    if events:
        describe_events(session, obj, w, res.kind)


def namespace(session: Session, res: Resource, obj: dict[str, Any], w: Out, events: bool) -> None:
    """describeNamespace: Conditions, then its quotas and limits (kubectl prints no events)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    name = str(meta.get("name", ""))
    # fetched first, as kubectl does: an error (Forbidden) leaves no partial output
    quotas = _items(session, f"/api/v1/namespaces/{name}/resourcequotas")
    limits = _items(session, f"/api/v1/namespaces/{name}/limitranges")
    w.write(0, f"Name:\t{name}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{status.get('phase', '')}\n")
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')}\t{c.get('status', '')}\t"
                f"{rfc1123z(c.get('lastTransitionTime'))}\t{c.get('reason', '')}\t"
                f"{c.get('message', '')}\n",
            )
    if quotas is not None:
        w.write(0, "\n")
        quota_section(w, quotas)
    if limits is not None:
        w.write(0, "\n")
        limit_section(w, limits)


def _items(session: Session, path: str) -> list[dict[str, Any]] | None:
    """A namespace's quotas or limits; None when the server has no such kind (NotFound)."""
    from kubectl_scipian.read.describers.workloads import list_all

    try:
        return list_all(session, path, {})
    except StatusError as e:
        if e.code == 404:
            return None
        raise


def secret(session: Session, res: Resource, obj: dict[str, Any], w: Out, events: bool) -> None:
    """Sizes only: no value ever reaches the output (kubectl prints no events here).

    Deliberate difference: kubectl prints the `token` of a legacy
    `kubernetes.io/service-account-token` Secret in clear; we print its size like
    every other value, since that token is a long-lived credential.
    """
    meta = obj.get("metadata") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"\nType:\t{obj.get('type', '')}\n")
    w.write(0, "\nData\n====\n")
    for k, v in sorted((obj.get("data") or {}).items()):
        w.write(0, f"{k}:\t{len(base64.b64decode(v or ''))} bytes\n")


def service_account(
    session: Session, res: Resource, obj: dict[str, Any], w: Out, events: bool
) -> None:
    meta = obj.get("metadata") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    names = [str(s.get("name", "")) for s in obj.get("imagePullSecrets") or []]
    title = "Image pull secrets:"
    if not names:
        w.write(0, f"{title}\t<none>\n")
    for name in names:
        w.write(0, f"{title}\t{name}\n")
        title = " " * len(title)
    if events:
        describe_events(session, obj, w, res.kind)

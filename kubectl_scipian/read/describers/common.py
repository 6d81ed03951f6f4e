"""Describers for the simple core kinds: ConfigMap, Namespace, Secret, ServiceAccount."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import header, print_annotations, print_labels

if TYPE_CHECKING:
    from kubectl_scipian.read.describe import Out
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
    meta = obj.get("metadata") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{(obj.get('status') or {}).get('phase', '')}\n")
    name = meta.get("name", "")
    quotas = session.client.get_json(f"/api/v1/namespaces/{name}/resourcequotas").get("items")
    if not quotas:
        w.write(0, "\nNo resource quota.\n")
    else:
        for q in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            _quota(w, q)
    limits = session.client.get_json(f"/api/v1/namespaces/{name}/limitranges").get("items")
    if not limits:
        w.write(0, "\nNo LimitRange resource.\n")


def _quota(w: Out, q: dict[str, Any]) -> None:
    w.write(0, "\n")
    w.write(0, "Resource Quotas\n")
    w.write(1, f"Name:\t{q['metadata']['name']}\n")
    hard = (q.get("status") or {}).get("hard") or {}
    used = (q.get("status") or {}).get("used") or {}
    w.write(1, "Resource\tUsed\tHard\n")
    w.write(1, "--------\t---\t---\n")
    for k in sorted(hard):
        w.write(1, f"{k}\t{used.get(k, '0')}\t{hard[k]}\n")


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

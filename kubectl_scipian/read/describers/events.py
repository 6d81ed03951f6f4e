"""The Events section (DescribeEvents)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.errors import StatusError
from kubectl_scipian.read.humanize import since

if TYPE_CHECKING:
    from kubectl_scipian.read.describe import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


def search_events(session: Session, res: Resource, obj: dict[str, Any]) -> list[dict[str, Any]]:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    selector = (
        f"involvedObject.name={meta.get('name', '')},involvedObject.namespace={ns},"
        f"involvedObject.uid={meta.get('uid', '')}"
    )
    path = f"/api/v1/namespaces/{ns}/events" if ns else "/api/v1/events"
    try:
        doc = session.client.get_json(path, {"fieldSelector": selector, "limit": 500})
    except StatusError:
        return []  # kubectl ignores errors listing events
    return list(doc.get("items") or [])


def describe_events(session: Session, res: Resource, obj: dict[str, Any], w: Out) -> None:
    items = search_events(session, res, obj)
    if not items:
        w.write(0, "Events:\t<none>\n")
        return
    items.sort(key=lambda e: str(e.get("lastTimestamp") or ""))  # RFC 3339 sorts as text
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in items:
        first = since(e.get("eventTime")) if e.get("eventTime") else since(e.get("firstTimestamp"))
        series = e.get("series")
        if series:
            interval = (
                f"{since(series.get('lastObservedTime'))} (x{series.get('count')} over {first})"
            )
        elif (e.get("count") or 0) > 1:
            interval = f"{since(e.get('lastTimestamp'))} (x{e['count']} over {first})"
        else:
            interval = first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        w.write(
            1,
            f"{e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t"
            f"{str(e.get('message', '')).strip()}\n",
        )

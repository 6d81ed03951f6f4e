"""The Events section (searchEvents + DescribeEvents)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.errors import StatusError
from kubectl_scipian.read.humanize import since

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.session import Session


def search_events(
    session: Session, obj: dict[str, Any], kind: str | None, uid: str | None = None
) -> list[dict[str, Any]]:
    """Events whose involvedObject is `obj` (kind left out when None, as for pods)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    terms = [
        f"involvedObject.name={meta.get('name', '')}",
        f"involvedObject.namespace={ns}",
    ]
    if kind:
        terms.append(f"involvedObject.kind={kind}")
    uid = meta.get("uid", "") if uid is None else uid
    if uid:
        terms.append(f"involvedObject.uid={uid}")
    path = f"/api/v1/namespaces/{ns}/events" if ns else "/api/v1/events"
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"fieldSelector": ",".join(sorted(terms)), "limit": 500}
    try:
        while True:
            doc = session.client.get_json(path, query)
            items += doc.get("items") or []
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                break
            query = {**query, "continue": token}
    except StatusError:
        pass  # kubectl ignores errors listing events and prints what it has
    return items


def describe_events(session: Session, obj: dict[str, Any], w: Out, kind: str | None = None) -> None:
    print_events(search_events(session, obj, kind if kind is not None else obj.get("kind")), w)


def print_events(items: list[dict[str, Any]], w: Out) -> None:
    """DescribeEvents."""
    if not items:
        w.write(0, "Events:\t<none>\n")
        return
    items = sorted(items, key=lambda e: str(e.get("lastTimestamp") or ""))  # RFC 3339 as text
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for e in items:
        first = since(e.get("eventTime")) if e.get("eventTime") else since(e.get("firstTimestamp"))
        series = e.get("series")
        if series:
            interval = (
                f"{since(series.get('lastObservedTime'))} (x{series.get('count', 0)} over {first})"
            )
        elif (e.get("count") or 0) > 1:
            interval = f"{since(e.get('lastTimestamp'))} (x{e['count']} over {first})"
        else:
            interval = first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        message = str(e.get("message") or "").strip()
        field_path = (e.get("involvedObject") or {}).get("fieldPath")
        if field_path:
            message = f"{field_path}: {message}"
        w.write(1, f"{e.get('type', '')}\t{e.get('reason', '')}\t{interval}\t{source}\t{message}\n")

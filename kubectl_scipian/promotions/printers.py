"""Promotions as text (pure): the steps' summary table, the `promotions` table (kubectl's
layout: columns padded, three spaces apart), and -o json|yaml as a kubectl List. Every cell
and line is printed with its control characters escaped (support/untrusted.py): messages,
justifications and names come from the backend and from other people."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kubectl_scipian.read.humanize import human_duration, parse_time
from kubectl_scipian.support.untrusted import visible

SUMMARY = ["ENV", "PHASE", "REVISION", "CHART", "DURATION", "MESSAGE"]
LIST = ["NAME", "RELEASE", "NAMESPACE", "VERSION", "THROUGH", "PHASE", "INITIATOR", "AGE"]
WIDE = [*LIST, "STEPS", "REASON"]
NONE = "<none>"


def table(headers: list[str], rows: list[list[str]]) -> str:
    rows = [[visible(c) for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [
            str(row[-1])
        ]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _spec(promo: dict[str, Any]) -> dict[str, Any]:
    spec = promo.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(promo: dict[str, Any]) -> dict[str, Any]:
    status = promo.get("status")
    return status if isinstance(status, dict) else {}


def steps(promo: dict[str, Any]) -> list[dict[str, Any]]:
    found = _status(promo).get("steps")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def chart_text(promo: dict[str, Any]) -> str:
    chart = _spec(promo).get("chart") or {}
    return f"{chart.get('name', '')}-{chart.get('version', '')}"


def duration_of(step: dict[str, Any], now: datetime) -> str:
    started = parse_time(step.get("startedAt"))
    if started is None:
        return ""
    finished = parse_time(step.get("finishedAt")) or now
    return human_duration((finished - started).total_seconds())


def one_line(text: object) -> str:
    return visible(" ".join(str(text or "").split()))


def summary_rows(promo: dict[str, Any], now: datetime) -> list[list[str]]:
    chart = chart_text(promo)
    rows = []
    for step in steps(promo):
        revision = step.get("revision")
        rows.append(
            [
                str(step.get("environment", "")),
                str(step.get("phase", "")),
                str(revision) if isinstance(revision, int) else "",
                chart,
                duration_of(step, now),
                one_line(step.get("message")),
            ]
        )
    return rows


def summary_table(promo: dict[str, Any], now: datetime | None = None) -> str:
    return table(SUMMARY, summary_rows(promo, now or datetime.now(timezone.utc)))


def _age(promo: dict[str, Any], now: datetime) -> str:
    created = parse_time((promo.get("metadata") or {}).get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def list_row(promo: dict[str, Any], now: datetime, wide: bool = False) -> list[str]:
    spec, status = _spec(promo), _status(promo)
    through = spec.get("through")
    row = [
        str((promo.get("metadata") or {}).get("name", "")),
        str(spec.get("release", "")),
        str(spec.get("namespace", "")),
        str((spec.get("chart") or {}).get("version", "")),
        _json_cell(through) if isinstance(through, list) else NONE,
        str(status.get("phase") or NONE),
        str((spec.get("initiator") or {}).get("user", "")),
        _age(promo, now),
    ]
    if wide:
        row.append(",".join(f"{s.get('environment')}={s.get('phase')}" for s in steps(promo)))
        row.append(one_line(spec.get("justification")))
    return row


def _json_cell(value: object) -> str:
    """An array cell as kubectl prints a printer column's array: compact JSON."""
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def list_table(items: list[dict[str, Any]], wide: bool = False, now: datetime | None = None) -> str:
    if not items:
        return ""
    moment = now or datetime.now(timezone.utc)
    return table(WIDE if wide else LIST, [list_row(p, moment, wide) for p in items])


def describe(promo: dict[str, Any], now: datetime | None = None) -> str:
    """One promotion: who, what, where, when, why, approved by whom; then its steps."""
    moment = now or datetime.now(timezone.utc)
    spec, status = _spec(promo), _status(promo)
    meta = promo.get("metadata") or {}
    lines = [
        f"Name:        {meta.get('name', '')}",
        f"Release:     {spec.get('namespace', '')}/{spec.get('release', '')}",
        f"Chart:       {chart_text(promo)} ({(spec.get('chart') or {}).get('identity', '')})",
        f"Through:     {' -> '.join(str(e) for e in spec.get('through') or [])}",
        f"Initiator:   {(spec.get('initiator') or {}).get('user', '')}",
        f"Reason:      {one_line(spec.get('justification'))}",
        f"Created:     {meta.get('creationTimestamp', '')}",
        f"Phase:       {status.get('phase') or NONE}",
    ]
    if status.get("message"):
        lines.append(f"Message:     {one_line(status['message'])}")
    for step in steps(promo):
        for a in step.get("approvals") or []:
            lines.append(
                f"Approved:    {step.get('environment')} by {a.get('user', '')} at "
                f"{a.get('time', '')}: {one_line(a.get('justification'))}"
            )
    return "\n".join(visible(line) for line in lines) + "\n\n" + summary_table(promo, moment)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """As kubectl prints objects (no --show-managed-fields)."""
    if isinstance(obj.get("items"), list):
        return {**obj, "items": [without_managed_fields(i) for i in obj["items"]]}
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def structured(obj: dict[str, Any], output: str) -> str:
    """kubectl's -o json (4-space indent) or -o yaml of an object or List."""
    from kubectl_scipian.read.printers import jsonyaml
    from kubectl_scipian.support.untrusted import json_escaped

    plain = without_managed_fields(obj)
    return json_escaped(jsonyaml.to_json(plain)) if output == "json" else jsonyaml.to_yaml(plain)

"""Promotions as text (pure): the steps' summary table, the `promotions` table (kubectl's
layout: columns padded, three spaces apart), and -o json|yaml as a kubectl List. Every cell
and line is printed with its control characters escaped (support/untrusted.py): messages,
justifications and names come from the backend and from other people."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kubectl_scipian.read.humanize import human_duration, parse_time
from kubectl_scipian.support.untrusted import visible

SUMMARY = ["ENV", "PHASE", "APPROVALS", "REVISION", "DURATION", "MESSAGE"]
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
    spec = _spec(promo)
    chart = spec.get("chart")
    if isinstance(chart, dict):
        return f"{chart.get('name', '')}-{chart.get('version', '')}"
    if spec.get("rollbackTo") is not None:
        return f"rollback to revision {spec.get('rollbackTo')}"
    return ""


def phase_of(promo: dict[str, Any]) -> str:
    return str(_status(promo).get("phase") or "")


def approvals_text(step: dict[str, Any]) -> str:
    need = step.get("approvalsRequired")
    if not isinstance(need, int) or isinstance(need, bool) or need <= 0:
        return ""
    have = step.get("approvals")
    return f"{len(have) if isinstance(have, list) else 0}/{need}"


def duration_of(step: dict[str, Any], now: datetime) -> str:
    started = parse_time(step.get("startedAt"))
    if started is None:
        return ""
    finished = parse_time(step.get("finishedAt")) or now
    return human_duration((finished - started).total_seconds())


def one_line(text: object) -> str:
    return visible(" ".join(str(text or "").split()))


def summary_rows(promo: dict[str, Any], now: datetime) -> list[list[str]]:
    rows = []
    for step in steps(promo):
        revision = step.get("revision")
        rows.append(
            [
                str(step.get("environment", "")),
                str(step.get("phase", "")),
                approvals_text(step),
                str(revision) if isinstance(revision, int) else "",
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
    """One promotion: who, what (archive and values digests), where, when, why, approved by
    whom (and which diff), executed by which replica; then its steps."""
    moment = now or datetime.now(timezone.utc)
    spec, status = _spec(promo), _status(promo)
    meta = promo.get("metadata") or {}
    found = spec.get("chart")
    chart: dict[str, Any] = found if isinstance(found, dict) else {}
    lines = [
        f"Name:        {meta.get('name', '')}",
        f"Release:     {spec.get('namespace', '')}/{spec.get('release', '')}",
        f"Chart:       {chart_text(promo)}"
        + (f" ({chart.get('digest', '')})" if chart.get("digest") else ""),
        f"Through:     {' -> '.join(str(e) for e in spec.get('through') or [])}",
        f"Initiator:   {(spec.get('initiator') or {}).get('user', '')}",
        f"Reason:      {one_line(spec.get('justification'))}",
        f"Created:     {meta.get('creationTimestamp', '')}",
        f"Phase:       {status.get('phase') or NONE}",
    ]
    if spec.get("breakGlass"):
        lines.append("Break-glass: true")
    if status.get("message"):
        lines.append(f"Message:     {one_line(status['message'])}")
    if status.get("executedBy"):
        lines.append(f"Executed by: {one_line(status['executedBy'])}")
    digests = spec.get("valuesDigests")
    if isinstance(digests, dict):
        for env, digest in digests.items():
            lines.append(f"Values:      {env} {digest}")
    for step in steps(promo):
        if step.get("renderDigest"):
            lines.append(f"Diff:        {step.get('environment')} {step['renderDigest']}")
    for step in steps(promo):
        for a in step.get("approvals") or []:
            if not isinstance(a, dict):
                continue
            lines.append(
                f"Approved:    {step.get('environment')} by {a.get('user', '')} at "
                f"{a.get('time', '')}: {one_line(a.get('justification'))}"
            )
    cancel = status.get("cancelRequest")
    if isinstance(cancel, dict):
        lines.append(
            f"Cancel:      by {cancel.get('user', '')} at {cancel.get('time', '')}: "
            f"{one_line(cancel.get('justification'))}"
        )
    return "\n".join(visible(line) for line in lines) + "\n\n" + summary_table(promo, moment)


# -- the diff (change.md §6) --------------------------------------------------------------


def _names(value: object) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""


def diff_text(diff: dict[str, Any]) -> str:
    """The diff of one step, readably: an object per line (kind namespace/name: change),
    then its images, replicas, changed fields and ConfigMap key names. A Secret shows only
    that it is there (the backend sends nothing else of it)."""
    lines = [
        f"Diff of step {diff.get('environment', '')}, digest {diff.get('digest', '')}",
    ]
    objects = [o for o in diff.get("objects") or [] if isinstance(o, dict)]
    if not objects:
        lines.append("  (no changes)")
    for obj in objects:
        kind = str(obj.get("kind", ""))
        where = (
            f"{obj.get('namespace')}/{obj.get('name', '')}"
            if obj.get("namespace")
            else str(obj.get("name", ""))
        )
        change = str(obj.get("change", ""))
        if kind == "Secret" and change not in ("added", "removed"):
            change = "present"
        hook = " (hook)" if obj.get("hook") else ""
        lines.append(f"{kind} {where}: {change}{hook}")
        if kind == "Secret":
            continue
        for image in obj.get("images") or []:
            if isinstance(image, dict):
                old = image.get("old") or "(none)"
                new = image.get("new") or "(none)"
                lines.append(f"    image {image.get('container', '')}: {old} -> {new}")
        replicas = obj.get("replicas")
        if isinstance(replicas, dict):
            old = replicas.get("old")
            new = replicas.get("new")
            lines.append(
                f"    replicas: {'(none)' if old is None else old} -> "
                f"{'(none)' if new is None else new}"
            )
        if obj.get("fields"):
            lines.append(f"    fields: {_names(obj['fields'])}")
        keys = obj.get("keys")
        if isinstance(keys, dict):
            parts = [f"{what} {_names(keys.get(what))}" for what in ("added", "removed", "changed")]
            shown = [p for p in parts if p.split(" ", 1)[1]]
            if shown:
                lines.append(f"    keys: {'; '.join(shown)}")
    return "\n".join(visible(line) for line in lines) + "\n"


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

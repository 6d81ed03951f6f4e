"""Helm 4's printers for list, history and status (pkg/cmd/list.go, history.go,
status.go), fed with the backend's redacted releases (pure).

Unlike helm, the tables print a record's text with its control characters escaped
(support/untrusted.py): whoever can write a release record in a namespace must not be able
to rewrite the reader's terminal. -o json escapes them as JSON does; -o yaml as YAML does."""

from __future__ import annotations

from typing import Any

from kubectl_scipian.helm import gofmt
from kubectl_scipian.support.untrusted import visible

LIST_HEADERS = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
HISTORY_HEADERS = ["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"]


def chart_name(rel: dict[str, Any]) -> str:
    meta = _metadata(rel)
    if meta is None:
        return "MISSING"
    return f"{meta.get('name') or ''}-{meta.get('version') or ''}"


def app_version(rel: dict[str, Any]) -> str:
    meta = _metadata(rel)
    return "MISSING" if meta is None else str(meta.get("appVersion") or "")


def _metadata(rel: dict[str, Any]) -> dict[str, Any] | None:
    chart = rel.get("chart")
    meta = chart.get("metadata") if isinstance(chart, dict) else None
    return meta if isinstance(meta, dict) else None


def _info(rel: dict[str, Any]) -> dict[str, Any]:
    info = rel.get("info")
    return info if isinstance(info, dict) else {}


def status_of(rel: dict[str, Any]) -> str:
    return str(_info(rel).get("status") or "")


def last_deployed(rel: dict[str, Any]) -> gofmt.GoTime | None:
    return gofmt.parse(_info(rel).get("last_deployed"))


# --- list -----------------------------------------------------------------------------------


def list_element(rel: dict[str, Any], time_format: str = "") -> dict[str, str]:
    """list.go's releaseElement, in its field order."""
    when = last_deployed(rel)
    return {
        "name": str(rel.get("name") or ""),
        "namespace": str(rel.get("namespace") or ""),
        "revision": str(rel.get("version") or 0),
        "updated": gofmt.string(when) if when else "-",
        "status": status_of(rel),
        "chart": chart_name(rel),
        "app_version": app_version(rel),
    }


def list_table(
    elements: list[dict[str, str]], *, no_headers: bool = False, env: bool = False
) -> str:
    """The list table; with `env`, an ENV column first (several environments)."""
    headers = (["ENV"] if env else []) + LIST_HEADERS
    rows = [] if no_headers else [headers]
    for e in elements:
        row = [e["name"], e["namespace"], e["revision"], e["updated"], e["status"], e["chart"]]
        cells = ([e["environment"]] if env else []) + [*row, e["app_version"]]
        rows.append([visible(c) for c in cells])
    return gofmt.uitable(rows)


# --- history --------------------------------------------------------------------------------


def history_items(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """history.go's releaseInfo values (times kept parsed for the table)."""
    out = []
    for rel in releases:
        item: dict[str, Any] = {"revision": int(rel.get("version") or 0)}
        when = last_deployed(rel)
        if when is not None:
            item["updated"] = when
        item["status"] = status_of(rel)
        item["chart"] = chart_name(rel)
        item["app_version"] = app_version(rel)
        rollback = _info(rel).get("rollback_revision")
        if isinstance(rollback, int) and rollback:
            item["rollback_revision"] = rollback
        item["description"] = str(_info(rel).get("description") or "")
        out.append(item)
    return out


def history_table(items: list[dict[str, Any]]) -> str:
    rows = [HISTORY_HEADERS]
    for item in items:
        when = item.get("updated")
        cells = [
            str(item["revision"]),
            gofmt.ansic(when) if when else _ZERO_ANSIC,
            item["status"],
            item["chart"],
            item["app_version"],
            item["description"],
        ]
        rows.append([visible(c) for c in cells])
    return gofmt.uitable(rows)


# Go's zero time in ANSIC, which history prints for a revision without last_deployed.
_ZERO_ANSIC = "Mon Jan  1 00:00:00 0001"


def history_json_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: gofmt.rfc3339nano(v) if k == "updated" else v for k, v in item.items()}
        for item in items
    ]


# --- status ---------------------------------------------------------------------------------

STATUS_INFO_KEYS = ("first_deployed", "last_deployed", "deleted")


def status_table(rel: dict[str, Any]) -> str:
    """status.go's WriteTable without RESOURCES and NOTES (redacted)."""
    info = _info(rel)
    lines = [f"NAME: {rel.get('name') or ''}"]
    when = last_deployed(rel)
    if when is not None:
        lines.append(f"LAST DEPLOYED: {gofmt.ansic(when)}")
    lines += [
        f"NAMESPACE: {rel.get('namespace') or ''}",
        f"STATUS: {info.get('status') or ''}",
        f"REVISION: {int(rel.get('version') or 0)}",
        f"DESCRIPTION: {info.get('description') or ''}",
    ]
    tests = rel.get("tests") or []
    if not tests:
        lines.append("TEST SUITE: None")
    for run in tests:
        started = gofmt.parse(run.get("started_at"))
        if started is None:
            continue
        completed = gofmt.parse(run.get("completed_at"))
        lines += [
            f"TEST SUITE:     {run.get('name') or ''}",
            f"Last Started:   {gofmt.ansic(started)}",
            f"Last Completed: {gofmt.ansic(completed) if completed else _ZERO_ANSIC}",
            f"Phase:          {run.get('phase') or ''}",
        ]
    return "\n".join(visible(line) for line in lines) + "\n"


def status_object(rel: dict[str, Any]) -> dict[str, Any]:
    """The release as `helm status -o json` encodes it (chart dropped, as Helm does),
    minus the redacted config, manifest, hooks, info.notes and info.resources."""
    info: dict[str, Any] = {}
    for key, value in _info(rel).items():
        if key in STATUS_INFO_KEYS:
            when = gofmt.parse(value)
            if when is not None:
                info[key] = gofmt.rfc3339nano(when)
        elif value not in ("", 0, None):
            info[key] = value
    out: dict[str, Any] = {}
    if rel.get("name"):
        out["name"] = rel["name"]
    out["info"] = info
    if rel.get("version"):
        out["version"] = rel["version"]
    if rel.get("namespace"):
        out["namespace"] = rel["namespace"]
    if rel.get("apply_method"):
        out["apply_method"] = rel["apply_method"]
    return out

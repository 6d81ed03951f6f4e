"""Access requests as text (pure): the `requests` table with the columns of `kubectl get
accessrequest` (the CRD's printer columns), its wide form, and the one-line status a
`--wait` shows. -o json|yaml is promotions/printers.py's `structured`
(kubectl's own bytes). Every cell is printed with its control characters escaped."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from kubectl_scipian.promotions.printers import NONE, one_line, table
from kubectl_scipian.read.humanize import human_duration, parse_time
from kubectl_scipian.support.untrusted import visible

LIST = ["NAME", "ENV", "LEVEL", "REQUESTER", "PHASE", "EXPIRES", "AGE"]
WIDE = [*LIST, "NAMESPACES", "APPROVALS", "REASON"]
DECIDED = ("Approved", "Denied", "Expired", "Ended", "Cancelled", "Revoked")


def _part(obj: dict[str, Any], key: str) -> dict[str, Any]:
    found = obj.get(key)
    return found if isinstance(found, dict) else {}


def name_of(obj: dict[str, Any]) -> str:
    return str(_part(obj, "metadata").get("name", ""))


def phase_of(obj: dict[str, Any]) -> str:
    return str(_part(obj, "status").get("phase") or "")


def environment_of(obj: dict[str, Any]) -> str:
    return str(_part(obj, "spec").get("environment", ""))


def level_of(obj: dict[str, Any]) -> str:
    return str(_part(obj, "spec").get("level", ""))


def _time(value: object) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def age(obj: dict[str, Any], now: datetime) -> str:
    created = _time(_part(obj, "metadata").get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def approvals_text(obj: dict[str, Any]) -> str:
    status = _part(obj, "status")
    need = status.get("approvalsRequired")
    have = status.get("approvals")
    count = len(have) if isinstance(have, list) else 0
    if not isinstance(need, int) or isinstance(need, bool) or need <= 0:
        return str(count)
    return f"{count}/{need}"


def namespaces_text(obj: dict[str, Any]) -> str:
    found = _part(obj, "spec").get("namespaces")
    if not isinstance(found, list) or not found:
        return NONE
    return ",".join(str(ns) for ns in found)


def _cell(value: object) -> str:
    """A printer column's string cell as kubectl shows it: `<none>` when absent."""
    return NONE if value is None or value == "" else str(value)


def row(obj: dict[str, Any], now: datetime, wide: bool = False) -> list[str]:
    spec, status = _part(obj, "spec"), _part(obj, "status")
    cells = [
        name_of(obj),
        _cell(spec.get("environment")),
        _cell(spec.get("level")),
        _cell(_part(spec, "requester").get("user")),
        _cell(status.get("phase")),
        _cell(status.get("expiresAt")),  # the column's type is string: printed as is
        age(obj, now),
    ]
    if wide:
        cells += [namespaces_text(obj), approvals_text(obj), one_line(spec.get("justification"))]
    return cells


def list_table(items: list[dict[str, Any]], wide: bool = False, now: datetime | None = None) -> str:
    if not items:
        return ""
    moment = now or datetime.now(timezone.utc)
    return table(WIDE if wide else LIST, [row(i, moment, wide) for i in items])


def remaining(obj: dict[str, Any], now: datetime) -> str:
    """`in 1h59m` until status.expiresAt (the window's end once Approved), or ""."""
    end = _time(_part(obj, "status").get("expiresAt"))
    if end is None:
        return ""
    left = (end - now).total_seconds()
    return f"in {human_duration(left)}" if left > 0 else "now"


def status_line(obj: dict[str, Any], now: datetime) -> str:
    """One line of a request's state: what `--wait` shows (pure)."""
    phase = phase_of(obj) or "Pending"
    name = name_of(obj)
    status = _part(obj, "status")
    if phase == "Pending":
        left = remaining(obj, now)
        text = f"request {name}: Pending, approvals {approvals_text(obj)}"
        text += f"; expires {left}" if left else ""
    elif phase == "Approved":
        left = remaining(obj, now)
        text = f"request {name}: Approved" + (f", window ends {left}" if left else "")
    else:
        text = f"request {name}: {phase}"
        decision = _part(status, "decision")
        if decision.get("user"):
            text += f" by {decision['user']}"
            why = one_line(decision.get("justification"))
            text += f": {why}" if why else ""
        elif status.get("message"):
            text += f": {one_line(status['message'])}"
    return visible(text)

"""ResourceQuota and LimitRange: alone, and as the quota and limit sections of a Namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.fields import Obj, header
from kubectl_scipian.read.describers.quantity import Quantity, parse

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

SCOPE_HELP = {
    "Terminating": "Matches all pods that have an active deadline. These pods have a limited "
    "lifespan on a node before being actively terminated by the system.",
    "NotTerminating": "Matches all pods that do not have an active deadline. These pods usually "
    "include long running pods whose container command is not expected to terminate.",
    "BestEffort": "Matches all pods that do not have resource requirements set. These pods have "
    "a best effort quality of service.",
    "NotBestEffort": "Matches all pods that have at least one resource requirement set. These "
    "pods have a burstable or guaranteed quality of service.",
}
LIMIT_COLUMNS = (
    "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio\n"
)
LIMIT_RULES = "----\t--------\t---\t---\t---------------\t-------------\t-----------------------\n"


def _scopes(w: Out, level: int, quota: Obj, bullet: str) -> None:
    scopes = sorted(str(s) for s in (quota.get("spec") or {}).get("scopes") or [])
    if not scopes:
        return
    w.write(level, f"Scopes:\t{', '.join(scopes)}\n")
    for scope in scopes:
        if scope in SCOPE_HELP:
            w.write(level, f"{bullet}{SCOPE_HELP[scope]}\n")


def _as_format(used: str | None, hard: str) -> str:
    """describeQuota: a used amount in another format than the hard one is printed in that."""
    target = parse(hard)
    if used is None:
        return str(Quantity(parse("0").value, target.format))
    q = parse(used)
    if q.format == target.format:
        return used  # the server sends canonical quantities: this is their String()
    return str(Quantity(parse(str(q.whole())).value, target.format))


def resource_quota(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    header(w, obj)
    _scopes(w, 0, obj, " * ")
    w.write(0, "Resource\tUsed\tHard\n")
    w.write(0, "--------\t----\t----\n")
    for name in sorted(hard):
        w.write(0, f"{name}\t{_as_format(used.get(name), str(hard[name]))}\t{hard[name]}\n")


def quota_section(w: Out, quotas: list[Obj]) -> None:
    """DescribeResourceQuotas: every quota of a namespace, by name."""
    if not quotas:
        w.write(0, "No resource quota.\n")
        return
    w.write(0, "Resource Quotas\n")
    for q in sorted(quotas, key=lambda q: str(q["metadata"]["name"])):
        status = q.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        w.write(1, f"Name:\t{q['metadata']['name']}\n")
        _scopes(w, 1, q, "* ")
        w.write(1, "Resource\tUsed\tHard\n")
        w.write(1, "--------\t---\t---\n")
        for name in sorted(hard):
            w.write(1, f"{name}\t{used.get(name, '0')}\t{hard[name]}\n")


def _limit_rows(w: Out, spec: Obj, prefix: str) -> None:
    """describeLimitRangeSpec. kubectl walks each item's resources in Go map order (random);
    they come out here sorted by name, which is one of the orders kubectl prints."""
    for item in spec.get("limits") or []:
        columns: list[dict[str, Any]] = [
            item.get(k) or {} for k in ("min", "max", "defaultRequest", "default")
        ]
        ratio = item.get("maxLimitRequestRatio") or {}
        names = sorted({n for c in [*columns, ratio] for n in c})
        for name in names:
            values = [str(c[name]) if name in c else "-" for c in [*columns, ratio]]
            w.write(0, f"{prefix}{item.get('type', '')}\t{name}\t" + "\t".join(values) + "\n")


def limit_range(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    header(w, obj)
    w.write(0, LIMIT_COLUMNS)
    w.write(0, LIMIT_RULES)
    _limit_rows(w, obj.get("spec") or {}, "")


def limit_section(w: Out, limits: list[Obj]) -> None:
    """DescribeLimitRanges: every LimitRange of a namespace in one table."""
    if not limits:
        w.write(0, "No LimitRange resource.\n")
        return
    w.write(0, "Resource Limits\n " + LIMIT_COLUMNS)
    w.write(0, " " + LIMIT_RULES)
    for lr in limits:
        _limit_rows(w, lr.get("spec") or {}, " ")

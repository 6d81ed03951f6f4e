"""Node: conditions, capacity, the non-terminated pods on it and what they ask for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers import quantity as qty
from kubectl_scipian.read.describers.events import print_events, search_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    go_bool,
    print_annotations,
    print_labels,
    print_taints,
    rfc1123z,
)
from kubectl_scipian.read.describers.workloads import list_all
from kubectl_scipian.read.errors import StatusError
from kubectl_scipian.read.humanize import since

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

ROLE_PREFIX = "node-role.kubernetes.io/"
STANDARD = {"cpu", "memory", "ephemeral-storage", "pods"}


def roles(labels: dict[str, str]) -> list[str]:
    found = set()
    for k, v in labels.items():
        if k.startswith(ROLE_PREFIX) and k[len(ROLE_PREFIX) :]:
            found.add(k[len(ROLE_PREFIX) :])
        elif k == "kubernetes.io/role" and v:
            found.add(v)
    return sorted(found)


def node(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    name = str(meta.get("name", ""))
    selector = f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"
    pods: list[Obj] | None
    try:
        pods = list_all(session, "/api/v1/pods", {"fieldSelector": selector})
    except StatusError as e:
        if e.code != 403:
            raise
        pods = None
    found_events: list[Obj] = []
    if events:
        found_events = search_events(session, obj, "Node") + search_events(
            session, obj, "Node", name
        )
    w.write(0, f"Name:\t{name}\n")
    w.write(0, f"Roles:\t{','.join(roles(meta.get('labels') or {})) or '<none>'}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    print_taints(w, "Taints", spec.get("taints"))
    w.write(0, f"Unschedulable:\t{go_bool(spec.get('unschedulable'))}\n")
    _lease(session, w, name)
    conditions = status.get("conditions") or []
    if conditions:
        w.write(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        )
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')} \t{c.get('status', '')} \t"
                f"{rfc1123z(c.get('lastHeartbeatTime'))} \t{rfc1123z(c.get('lastTransitionTime'))} "
                f"\t{c.get('reason', '')} \t{c.get('message', '')}\n",
            )
    w.write(0, "Addresses:\n")
    for a in status.get("addresses") or []:
        w.write(1, f"{a.get('type', '')}:\t{a.get('address', '')}\n")
    for field, title in (("capacity", "Capacity"), ("allocatable", "Allocatable")):
        values = status.get(field) or {}
        if values:
            w.write(0, f"{title}:\n")
            for k in sorted(values):
                w.write(0, f"  {k}:\t{values[k]}\n")  # the server sends canonical text
    info = status.get("nodeInfo") or {}
    w.write(0, "System Info:\n")
    for title, field in (
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
    ):
        w.write(0, f"  {title}:\t{info.get(field, '')}\n")
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{spec['podCIDR']}\n")
    if spec.get("podCIDRs"):
        w.write(0, f"PodCIDRs:\t{','.join(spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{spec['providerID']}\n")
    if pods is None:
        w.write(0, "Pods:\tnot authorized\n")
    else:
        _resources(w, obj, pods)
    if events:
        print_events(found_events, w)


def _lease(session: Session, w: Out, name: str) -> None:
    try:
        lease = session.client.get_json(
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        )
    except StatusError as e:
        w.write(0, f"Lease:\tFailed to get lease: {e.text}\n")
        return
    spec = lease.get("spec") or {}
    w.write(0, "Lease:\n")
    w.write(1, f"HolderIdentity:\t{spec.get('holderIdentity') or '<unset>'}\n")
    for field, title in (("acquireTime", "AcquireTime"), ("renewTime", "RenewTime")):
        value = spec.get(field)
        w.write(1, f"{title}:\t{rfc1123z(value) if value else '<unset>'}\n")


def _pod_totals(pod: Obj, field: str) -> qty.ResourceList:
    """resourcehelper.PodRequests / PodLimits for the common shapes (sidecars, overhead)."""
    spec = pod.get("spec") or {}
    total: qty.ResourceList = {}
    for c in spec.get("containers") or []:
        qty.add_lists(total, qty.parse_list((c.get("resources") or {}).get(field)))
    sidecars: qty.ResourceList = {}
    init_max: qty.ResourceList = {}
    for c in spec.get("initContainers") or []:
        values = qty.parse_list((c.get("resources") or {}).get(field))
        if c.get("restartPolicy") == "Always":
            qty.add_lists(total, values)
            qty.add_lists(sidecars, values)
            qty.max_lists(init_max, dict(sidecars))
        else:
            step = dict(sidecars)
            qty.add_lists(step, values)
            qty.max_lists(init_max, step)
    qty.max_lists(total, init_max)
    pod_level = qty.parse_list((spec.get("resources") or {}).get(field))
    for name in ("cpu", "memory"):
        if name in pod_level:
            total[name] = pod_level[name]
    if spec.get("overhead"):
        qty.add_lists(total, qty.parse_list(spec["overhead"]))
    return total


def _pct(part: qty.Quantity, whole: qty.Quantity, milli: bool) -> int:
    a, b = (part.milli(), whole.milli()) if milli else (part.whole(), whole.whole())
    if b == 0:
        return 0
    return int(a / b * 100)


def _resources(w: Out, node_obj: Obj, pods: list[Obj]) -> None:
    status = node_obj.get("status") or {}
    alloc = qty.parse_list(status.get("allocatable") or status.get("capacity"))
    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    cpu0, mem0 = alloc.get("cpu", qty.ZERO), alloc.get("memory", qty.ZERO)
    reqs: qty.ResourceList = {}
    limits: qty.ResourceList = {}
    for p in pods:
        r, lim = _pod_totals(p, "requests"), _pod_totals(p, "limits")
        qty.add_lists(reqs, r)
        qty.add_lists(limits, lim)
        cells = []
        for values, name, milli, whole in (
            (r, "cpu", True, cpu0),
            (lim, "cpu", True, cpu0),
            (r, "memory", False, mem0),
            (lim, "memory", False, mem0),
        ):
            q = values.get(name, qty.ZERO)
            cells.append(f"{q} ({_pct_nan(q, whole, milli)}%)")
        meta = p.get("metadata") or {}
        w.write(
            1,
            f"{meta.get('namespace', '')}\t{meta.get('name', '')}\t\t{cells[0]}\t{cells[1]}\t"
            f"{cells[2]}\t{cells[3]}\t{since(meta.get('creationTimestamp'))}\n",
        )
    w.write(
        0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n"
    )
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    for name, milli in (("cpu", True), ("memory", False), ("ephemeral-storage", False)):
        whole = alloc.get(name, qty.ZERO)
        rq, lq = reqs.get(name, qty.ZERO), limits.get(name, qty.ZERO)
        w.write(1, f"{name}\t{rq} ({_pct(rq, whole, milli)}%)\t{lq} ({_pct(lq, whole, milli)}%)\n")
    huge = sorted(k for k in alloc if k.startswith("hugepages-"))
    ext = sorted(k for k in alloc if not k.startswith("hugepages-") and k not in STANDARD)
    for name in huge:
        rq, lq = reqs.get(name, qty.ZERO), limits.get(name, qty.ZERO)
        whole = alloc[name]
        w.write(1, f"{name}\t{rq} ({_pct(rq, whole, False)}%)\t{lq} ({_pct(lq, whole, False)}%)\n")
    for name in ext:
        w.write(1, f"{name}\t{reqs.get(name, qty.ZERO)}\t{limits.get(name, qty.ZERO)}\n")


def _pct_nan(part: qty.Quantity, whole: qty.Quantity, milli: bool) -> Any:
    """Go divides by zero here without a guard: int64(NaN or +Inf) on amd64 is MinInt64."""
    a, b = (part.milli(), whole.milli()) if milli else (part.whole(), whole.whole())
    if b == 0:
        return -9223372036854775808
    return int(a / b * 100)

"""Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    format_labels,
    format_selector,
    go_bool,
    header,
    int_or_string,
    print_annotations,
    print_bool,
    print_controller,
    print_labels,
    rfc1123z,
    selector_string,
)
from kubectl_scipian.read.describers.pod import pod_template
from kubectl_scipian.read.errors import StatusError
from kubectl_scipian.read.humanize import human_duration, parse_time

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

HASH_LABEL = "pod-template-hash"


def list_all(session: Session, path: str, query: dict[str, Any]) -> list[Obj]:
    """A list followed through its `continue` tokens (kubectl's chunked lists)."""
    items: list[Obj] = []
    query = {**query, "limit": 500}
    while True:
        doc = session.client.get_json(path, query)
        items += doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return items
        query = {**query, "continue": token}


def _controlled_by(obj: Obj, uid: str) -> bool:
    return any(
        r.get("controller") and r.get("uid") == uid
        for r in (obj.get("metadata") or {}).get("ownerReferences") or []
    )


def pod_counts(session: Session, obj: Obj, selector: str | None = None) -> str:
    """getPodStatusForController, as the `Pods Status` line prints it."""
    meta = obj.get("metadata") or {}
    if selector is None:
        selector = selector_string((obj.get("spec") or {}).get("selector"))
    path = f"/api/v1/namespaces/{meta.get('namespace', '')}/pods"
    pods = list_all(session, path, {"labelSelector": selector})
    counts = {"Running": 0, "Pending": 0, "Succeeded": 0, "Failed": 0}
    for p in pods:
        if not _controlled_by(p, str(meta.get("uid", ""))):
            continue
        phase = (p.get("status") or {}).get("phase")
        if phase in counts:
            counts[phase] += 1
    return (
        f"{counts['Running']} Running / {counts['Pending']} Waiting / "
        f"{counts['Succeeded']} Succeeded / {counts['Failed']} Failed"
    )


def _conditions(w: Out, conditions: list[Obj] | None) -> None:
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')}\t{c.get('reason', '')}\n")


def _meta(w: Out, obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))


# --- Deployment ---------------------------------------------------------------------------------


def _replica_sets(session: Session, d: Obj) -> tuple[list[Obj], list[Obj]]:
    """GetAllReplicaSetsInChunks: (all old ReplicaSets, [the new one])."""
    meta, spec = d.get("metadata") or {}, d.get("spec") or {}
    path = f"/apis/apps/v1/namespaces/{meta.get('namespace', '')}/replicasets"
    try:
        items = list_all(session, path, {"labelSelector": selector_string(spec.get("selector"))})
    except StatusError:
        return [], []
    owned = [rs for rs in items if _controlled_by(rs, str(meta.get("uid", "")))]
    owned.sort(
        key=lambda rs: (parse_time(rs["metadata"].get("creationTimestamp")), rs["metadata"]["name"])
    )
    new = None
    for rs in owned:
        if _equal_ignore_hash((rs.get("spec") or {}).get("template"), spec.get("template")):
            new = rs
            break
    old = [
        rs for rs in owned if new is None or rs["metadata"].get("uid") != new["metadata"].get("uid")
    ]
    return old, [new] if new is not None else []


def _without_hash(template: Obj | None) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
        if not labels:
            del t["metadata"]["labels"]
    return t


def _equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    return _without_hash(a) == _without_hash(b)


def _rs_list(items: list[Obj]) -> str:
    text = ", ".join(
        f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/"
        f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"
        for rs in items
    )
    return text or "<none>"


def deployment(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    header(w, obj)
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    _meta(w, obj)
    w.write(0, f"Selector:\t{selector_string(spec.get('selector'))}\n")
    w.write(
        0,
        f"Replicas:\t{spec.get('replicas', 0)} desired | {status.get('updatedReplicas', 0)} updated"
        f" | {status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available"
        f" | {status.get('unavailableReplicas', 0)} unavailable\n",
    )
    strategy = spec.get("strategy") or {}
    w.write(0, f"StrategyType:\t{strategy.get('type', '')}\n")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    ru = strategy.get("rollingUpdate")
    if ru is not None:
        w.write(
            0,
            f"RollingUpdateStrategy:\t{int_or_string(ru.get('maxUnavailable'))} max unavailable, "
            f"{int_or_string(ru.get('maxSurge'))} max surge\n",
        )
    pod_template(w, spec.get("template"))
    _conditions(w, status.get("conditions"))
    old, new = _replica_sets(session, obj)
    if old or new:
        w.write(0, f"OldReplicaSets:\t{_rs_list(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_rs_list(new)}\n")
    if events:
        describe_events(session, obj, w, res.kind)


# --- ReplicaSet, StatefulSet, DaemonSet -----------------------------------------------------------


def replica_set(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    header(w, obj)
    w.write(0, f"Selector:\t{format_selector(spec.get('selector'))}\n")
    _meta(w, obj)
    controlled_by = print_controller(obj)
    if controlled_by:
        w.write(0, f"Controlled By:\t{controlled_by}\n")
    w.write(
        0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 0)} desired\n"
    )
    w.write(0, "Pods Status:\t")
    try:
        w.write(0, pod_counts(session, obj) + "\n")
    except StatusError as e:
        w.write(0, f"error in fetching pods: {e.text}\n")
    pod_template(w, spec.get("template"))
    _conditions(w, status.get("conditions"))
    if events:
        describe_events(session, obj, w, res.kind)


def replication_controller(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector") or {}
    # labels.SelectorFromSet(...).String(): k=v sorted by key; an empty selector lists all
    counts = pod_counts(session, obj, ",".join(f"{k}={selector[k]}" for k in sorted(selector)))
    header(w, obj)
    w.write(0, f"Selector:\t{format_labels(selector)}\n")
    _meta(w, obj)
    w.write(
        0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 0)} desired\n"
    )
    w.write(0, f"Pods Status:\t{counts}\n")
    pod_template(w, spec.get("template"))
    _conditions(w, status.get("conditions"))
    if events:
        describe_events(session, obj, w, res.kind)


def stateful_set(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    counts = pod_counts(session, obj)
    header(w, obj)
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, f"Selector:\t{selector_string(spec.get('selector'))}\n")
    _meta(w, obj)
    w.write(
        0, f"Replicas:\t{spec.get('replicas', 0)} desired | {status.get('replicas', 0)} total\n"
    )
    strategy = spec.get("updateStrategy") or {}
    w.write(0, f"Update Strategy:\t{strategy.get('type', '')}\n")
    ru = strategy.get("rollingUpdate")
    if ru is not None and ru.get("partition") is not None:
        w.write(1, f"Partition:\t{ru['partition']}\n")
        if ru.get("maxUnavailable") is not None:
            w.write(1, f"MaxUnavailable:\t{int_or_string(ru['maxUnavailable'])}\n")
    w.write(0, f"Pods Status:\t{counts}\n")
    pod_template(w, spec.get("template"))
    _claim_templates(w, spec.get("volumeClaimTemplates"))
    if events:
        describe_events(session, obj, w, res.kind)


def _claim_templates(w: Out, templates: list[Obj] | None) -> None:
    from kubectl_scipian.read.describers.fields import go_list
    from kubectl_scipian.read.describers.storage import claim_class

    if not templates:
        w.write(0, "Volume Claims:\t<none>\n")
        return
    w.write(0, "Volume Claims:\n")
    for pvc in templates:
        meta, spec = pvc.get("metadata") or {}, pvc.get("spec") or {}
        w.write(1, f"Name:\t{meta.get('name', '')}\n")
        w.write(1, f"StorageClass:\t{claim_class(pvc)}\n")
        print_labels(w, "Labels", meta.get("labels"), "  ")
        print_labels(w, "Annotations", meta.get("annotations"), "  ")
        capacity = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        w.write(1, f"Capacity:\t{capacity if capacity is not None else '<default>'}\n")
        w.write(1, f"Access Modes:\t{go_list(spec.get('accessModes') or [])}\n")


def daemon_set(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    counts = pod_counts(session, obj)
    header(w, obj)
    w.write(0, f"Selector:\t{selector_string(spec.get('selector'))}\n")
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    w.write(0, f"Node-Selector:\t{format_labels(node_selector)}\n")
    _meta(w, obj)
    for title, field in (
        ("Desired Number of Nodes Scheduled", "desiredNumberScheduled"),
        ("Current Number of Nodes Scheduled", "currentNumberScheduled"),
        ("Number of Nodes Scheduled with Up-to-date Pods", "updatedNumberScheduled"),
        ("Number of Nodes Scheduled with Available Pods", "numberAvailable"),
        ("Number of Nodes Misscheduled", "numberMisscheduled"),
    ):
        w.write(0, f"{title}: {status.get(field, 0)}\n")
    w.write(0, f"Pods Status:\t{counts}\n")
    pod_template(w, spec.get("template"))
    if events:
        describe_events(session, obj, w, res.kind)


# --- Job, CronJob -------------------------------------------------------------------------------


def _cap_indexes(indexes: str, soft_limit: int = 50) -> str:
    if not indexes:
        return "<none>"
    ix = indexes.find(",", soft_limit)
    return indexes if ix < 0 else indexes[: ix + 1] + "..."


def job(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    header(w, obj)
    w.write(0, f"Selector:\t{selector_string(spec.get('selector'))}\n")
    _meta(w, obj)
    controlled_by = print_controller(obj)
    if controlled_by:
        w.write(0, f"Controlled By:\t{controlled_by}\n")
    if spec.get("parallelism") is not None:
        w.write(0, f"Parallelism:\t{spec['parallelism']}\n")
    completions = spec.get("completions")
    w.write(0, f"Completions:\t{completions if completions is not None else '<unset>'}\n")
    if spec.get("completionMode") is not None:
        w.write(0, f"Completion Mode:\t{spec['completionMode']}\n")
    if spec.get("suspend") is not None:
        w.write(0, f"Suspend:\t{go_bool(spec['suspend'])}\n")
    if spec.get("backoffLimit") is not None:
        w.write(0, f"Backoff Limit:\t{spec['backoffLimit']}\n")
    if spec.get("ttlSecondsAfterFinished") is not None:
        w.write(0, f"TTL Seconds After Finished:\t{spec['ttlSecondsAfterFinished']}\n")
    start, done = status.get("startTime"), status.get("completionTime")
    if start:
        w.write(0, f"Start Time:\t{rfc1123z(start)}\n")
    if done:
        w.write(0, f"Completed At:\t{rfc1123z(done)}\n")
    t0, t1 = parse_time(start), parse_time(done)
    if t0 is not None and t1 is not None:
        w.write(0, f"Duration:\t{human_duration((t1 - t0).total_seconds())}\n")
    if spec.get("activeDeadlineSeconds") is not None:
        w.write(0, f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s\n")
    active, ok, failed = (status.get(k, 0) for k in ("active", "succeeded", "failed"))
    if status.get("ready") is None:
        w.write(0, f"Pods Statuses:\t{active} Active / {ok} Succeeded / {failed} Failed\n")
    else:
        w.write(
            0,
            f"Pods Statuses:\t{active} Active ({status['ready']} Ready) / {ok} Succeeded / "
            f"{failed} Failed\n",
        )
    if spec.get("completionMode") == "Indexed":
        w.write(0, f"Completed Indexes:\t{_cap_indexes(status.get('completedIndexes') or '')}\n")
    pod_template(w, spec.get("template"))
    if events:
        describe_events(session, obj, w, res.kind)


def _unset(value: Any, suffix: str = "") -> str:
    return "<unset>" if value is None else f"{value}{suffix}"


def cron_job(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    header(w, obj)
    _meta(w, obj)
    w.write(0, f"Schedule:\t{spec.get('schedule', '')}\n")
    w.write(0, f"Concurrency Policy:\t{spec.get('concurrencyPolicy', '')}\n")
    suspend = spec.get("suspend")
    w.write(0, f"Suspend:\t{'<unset>' if suspend is None else print_bool(suspend)}\n")
    w.write(0, f"Time Zone:\t{_unset(spec.get('timeZone'))}\n")
    w.write(0, f"Successful Job History Limit:\t{_unset(spec.get('successfulJobsHistoryLimit'))}\n")
    w.write(0, f"Failed Job History Limit:\t{_unset(spec.get('failedJobsHistoryLimit'))}\n")
    w.write(0, f"Starting Deadline Seconds:\t{_unset(spec.get('startingDeadlineSeconds'), 's')}\n")
    template = (spec.get("jobTemplate") or {}).get("spec") or {}
    selector = template.get("selector")
    w.write(0, f"Selector:\t{'<unset>' if selector is None else selector_string(selector)}\n")
    w.write(0, f"Parallelism:\t{_unset(template.get('parallelism'))}\n")
    w.write(0, f"Completions:\t{_unset(template.get('completions'))}\n")
    if template.get("activeDeadlineSeconds") is not None:
        w.write(0, f"Active Deadline Seconds:\t{template['activeDeadlineSeconds']}s\n")
    pod_template(w, template.get("template"))
    last = status.get("lastScheduleTime")
    w.write(0, f"Last Schedule Time:\t{rfc1123z(last) if last else '<unset>'}\n")
    active = [str(j.get("name", "")) for j in status.get("active") or []]
    w.write(0, f"Active Jobs:\t{', '.join(active) if active else '<none>'}\n")
    if events:
        describe_events(session, obj, w, res.kind)

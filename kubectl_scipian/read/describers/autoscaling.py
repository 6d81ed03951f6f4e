"""HorizontalPodAutoscaler (autoscaling/v2, what kubectl reads whatever version was named)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    header,
    print_annotations,
    print_labels,
    rfc1123z,
)

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


def _q(value: Any) -> str:
    """`(*resource.Quantity).String()`: `<nil>` when unset."""
    return "<nil>" if value is None else str(value)


def _current(hpa: Obj, i: int, source: str) -> Obj | None:
    metrics = (hpa.get("status") or {}).get("currentMetrics") or []
    if len(metrics) > i and metrics[i].get(source) is not None:
        return dict(metrics[i][source].get("current") or {})
    return None


def _by_resource(w: Out, hpa: Obj, i: int, source: str, target: Obj, title: str) -> None:
    w.write(1, title)
    current = _current(hpa, i, source)
    if target.get("averageValue") is not None:
        now = "<unknown>" if current is None else _q(current.get("averageValue"))
        w.write(0, f":\t{now} / {target['averageValue']}\n")
        return
    now = "<unknown>"
    if current is not None and current.get("averageUtilization") is not None:
        now = f"{current['averageUtilization']}% ({_q(current.get('averageValue'))})"
    want = "<auto>"
    if target.get("averageUtilization") is not None:
        want = f"{target['averageUtilization']}%"
    w.write(1, f"(as a percentage of request):\t{now} / {want}\n")


def _quoted(text: str) -> str:
    """Go's %q for the plain metric names HPAs carry."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _metric(w: Out, hpa: Obj, i: int, m: Obj) -> None:
    kind = m.get("type", "")
    if kind == "External":
        ext = m.get("external") or {}
        name, target = _quoted(str((ext.get("metric") or {}).get("name", ""))), ext.get("target")
        target = target or {}
        current = _current(hpa, i, "external")
        if target.get("averageValue") is not None:
            now = "<unknown>"
            if current is not None and current.get("averageValue") is not None:
                now = str(current["averageValue"])
            w.write(1, f"{name} (target average value):\t{now} / {target['averageValue']}\n")
        else:
            now = "<unknown>" if current is None else _q(current.get("value"))
            w.write(1, f"{name} (target value):\t{now} / {_q(target.get('value'))}\n")
    elif kind == "Pods":
        pods = m.get("pods") or {}
        current = _current(hpa, i, "pods")
        now = "<unknown>" if current is None else _q(current.get("averageValue"))
        name = _quoted(str((pods.get("metric") or {}).get("name", "")))
        target = _q((pods.get("target") or {}).get("averageValue"))
        w.write(1, f"{name} on pods:\t{now} / {target}\n")
    elif kind == "Object":
        obj = m.get("object") or {}
        described, target = obj.get("describedObject") or {}, obj.get("target") or {}
        name = str((obj.get("metric") or {}).get("name", ""))
        w.write(1, f'"{name}" on {described.get("kind", "")}/{described.get("name", "")} ')
        current = _current(hpa, i, "object")
        if target.get("type") == "AverageValue":
            now = "<unknown>" if current is None else _q(current.get("averageValue"))
            w.write(0, f"(target average value):\t{now} / {_q(target.get('averageValue'))}\n")
        else:
            now = "<unknown>" if current is None else _q(current.get("value"))
            w.write(0, f"(target value):\t{now} / {_q(target.get('value'))}\n")
    elif kind == "Resource":
        r = m.get("resource") or {}
        title = f"resource {r.get('name', '')} on pods"
        _by_resource(w, hpa, i, "resource", r.get("target") or {}, title)
    elif kind == "ContainerResource":
        r = m.get("containerResource") or {}
        title = f'resource {r.get("name", "")} of container "{r.get("container", "")}" on pods'
        _by_resource(w, hpa, i, "containerResource", r.get("target") or {}, title)
    else:
        w.write(1, f"<unknown metric type {_quoted(str(kind))}>\n")


def _direction(w: Out, title: str, rules: Obj | None) -> None:
    """printDirectionBehavior."""
    if rules is None:
        return
    w.write(1, f"{title}:\n")
    if rules.get("stabilizationWindowSeconds") is not None:
        w.write(2, f"Stabilization Window: {rules['stabilizationWindowSeconds']} seconds\n")
    policies = rules.get("policies") or []
    if policies:
        w.write(2, f"Select Policy: {rules.get('selectPolicy') or 'Max'}\n")
        w.write(2, "Policies:\n")
        for p in policies:
            w.write(
                3,
                f"- Type: {p.get('type', '')}\tValue: {p.get('value', 0)}\t"
                f"Period: {p.get('periodSeconds', 0)} seconds\n",
            )


def horizontal_pod_autoscaler(
    session: Session, res: Resource, obj: Obj, w: Out, events: bool
) -> None:
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    if not str(obj.get("apiVersion", "")).startswith("autoscaling/v2"):
        # kubectl reads autoscaling/v2 whichever version was asked for
        path = f"/apis/autoscaling/v2/namespaces/{meta.get('namespace', '')}"
        v2 = session.client.get_json(f"{path}/horizontalpodautoscalers/{meta.get('name', '')}")
        horizontal_pod_autoscaler(session, res, v2, w, events)
        return
    ref = spec.get("scaleTargetRef") or {}
    header(w, obj)
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, f"Reference:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
    w.write(0, "Metrics:\t( current / target )\n")
    for i, m in enumerate(spec.get("metrics") or []):
        _metric(w, obj, i, m)
    low = spec.get("minReplicas")
    w.write(0, f"Min replicas:\t{'<unset>' if low is None else low}\n")
    w.write(0, f"Max replicas:\t{spec.get('maxReplicas', 0)}\n")
    behavior = spec.get("behavior")
    if behavior is not None:
        w.write(0, "Behavior:\n")
        _direction(w, "Scale Up", behavior.get("scaleUp"))
        _direction(w, "Scale Down", behavior.get("scaleDown"))
    w.write(0, f"{ref.get('kind', '')} pods:\t")
    current, desired = status.get("currentReplicas", 0), status.get("desiredReplicas", 0)
    w.write(0, f"{current} current / {desired} desired\n")
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tReason\tMessage\n")
        w.write(1, "----\t------\t------\t-------\n")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')}\t{c.get('status', '')}\t{c.get('reason', '')}\t"
                f"{c.get('message', '')}\n",
            )
    if events:
        describe_events(session, obj, w, res.kind)

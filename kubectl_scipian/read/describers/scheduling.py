"""PriorityClass and PodDisruptionBudget: which pods go first, and how many may go at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import Obj, format_labels, format_selector, header

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


def priority_class(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta = obj.get("metadata") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Value:\t{obj.get('value', 0)}\n")
    w.write(0, f"GlobalDefault:\t{'true' if obj.get('globalDefault') else 'false'}\n")
    w.write(0, f"PreemptionPolicy:\t{obj.get('preemptionPolicy', '')}\n")
    w.write(0, f"Description:\t{obj.get('description', '')}\n")
    w.write(0, f"Annotations:\t{format_labels(meta.get('annotations'))}\n")
    if events:
        describe_events(session, obj, w, res.kind)


def pod_disruption_budget(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    header(w, obj)
    if spec.get("minAvailable") is not None:
        w.write(0, f"Min available:\t{spec['minAvailable']}\n")
    elif spec.get("maxUnavailable") is not None:
        w.write(0, f"Max unavailable:\t{spec['maxUnavailable']}\n")
    selector = spec.get("selector")
    w.write(0, f"Selector:\t{'<unset>' if selector is None else format_selector(selector)}\n")
    w.write(0, "Status:\n")
    w.write(2, f"Allowed disruptions:\t{status.get('disruptionsAllowed', 0)}\n")
    w.write(2, f"Current:\t{status.get('currentHealthy', 0)}\n")
    w.write(2, f"Desired:\t{status.get('desiredHealthy', 0)}\n")
    w.write(2, f"Total:\t{status.get('expectedPods', 0)}\n")
    if events:
        describe_events(session, obj, w, res.kind)

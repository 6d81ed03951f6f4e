"""StorageClass, VolumeAttributesClass and CSINode: how the cluster provisions volumes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    format_labels,
    go_list,
    print_annotations,
    print_bool,
    print_labels,
    rfc1123z,
)

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

DEFAULT_CLASS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _topologies(w: Out, terms: list[Obj]) -> None:
    """printAllowedTopologies."""
    w.write(0, "AllowedTopologies:\t")
    if not terms:
        w.write(0, "<none>\n")
        return
    w.write(0, "\n")
    for i, term in enumerate(terms):
        w.write(1, f"Term {i}:\t")
        reqs = term.get("matchLabelExpressions") or []
        if not reqs:
            w.write(0, "<none>\n")
        for j, req in enumerate(reqs):
            if j:
                w.write(1, "\t")
            text = f"{req.get('key', '')} in"
            if req.get("values"):
                text += f" [{', '.join(req['values'])}]"
            w.write(0, f"{text}\n")


def storage_class(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    default = any(annotations.get(a) == "true" for a in DEFAULT_CLASS)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"IsDefaultClass:\t{'Yes' if default else 'No'}\n")
    w.write(0, f"Annotations:\t{format_labels(annotations)}\n")
    w.write(0, f"Provisioner:\t{obj.get('provisioner', '')}\n")
    w.write(0, f"Parameters:\t{format_labels(obj.get('parameters'))}\n")
    expand = obj.get("allowVolumeExpansion")
    w.write(0, f"AllowVolumeExpansion:\t{'<unset>' if expand is None else print_bool(expand)}\n")
    options = obj.get("mountOptions") or []
    if not options:
        w.write(0, "MountOptions:\t<none>\n")
    else:
        w.write(0, "MountOptions:\n")
        for option in options:
            w.write(1, f"{option}\n")
    if obj.get("reclaimPolicy") is not None:
        w.write(0, f"ReclaimPolicy:\t{obj['reclaimPolicy']}\n")
    if obj.get("volumeBindingMode") is not None:
        w.write(0, f"VolumeBindingMode:\t{obj['volumeBindingMode']}\n")
    if obj.get("allowedTopologies") is not None:
        _topologies(w, obj["allowedTopologies"])
    if events:
        describe_events(session, obj, w, res.kind)


def volume_attributes_class(
    session: Session, res: Resource, obj: Obj, w: Out, events: bool
) -> None:
    meta = obj.get("metadata") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Annotations:\t{format_labels(meta.get('annotations'))}\n")
    w.write(0, f"DriverName:\t{obj.get('driverName', '')}\n")
    w.write(0, f"Parameters:\t{format_labels(obj.get('parameters'))}\n")
    if events:
        describe_events(session, obj, w, res.kind)


def csi_node(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}\n")
    w.write(0, "Spec:\n")
    if spec.get("drivers") is not None:
        w.write(1, "Drivers:\n")
        for d in spec["drivers"]:
            w.write(2, f"{d.get('name', '')}:\n")
            w.write(3, f"Node ID:\t{d.get('nodeID', '')}\n")
            count = (d.get("allocatable") or {}).get("count")
            if count is not None:
                w.write(3, "Allocatables:\n")
                w.write(4, f"Count:\t{count}\n")
            if d.get("topologyKeys") is not None:
                w.write(3, f"Topology Keys:\t{go_list(d['topologyKeys'])}\n")
    if events:
        describe_events(session, obj, w, res.kind)

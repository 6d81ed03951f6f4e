"""PersistentVolumeClaim (also the claim templates of ephemeral volumes) and PersistentVolume."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    csi_attributes,
    go_bool,
    go_list,
    header,
    print_annotations,
    print_labels,
    print_list,
    rfc1123z,
    volume_fields,
)
from kubectl_scipian.read.humanize import since

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session

ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def claim_class(pvc: Obj) -> str:
    """storageutil.GetPersistentVolumeClaimClass: the beta annotation wins."""
    annotations = (pvc.get("metadata") or {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return str(annotations["volume.beta.kubernetes.io/storage-class"])
    return str((pvc.get("spec") or {}).get("storageClassName") or "")


def access_modes(modes: list[str] | None) -> str:
    return ",".join(short for mode, short in ACCESS_MODES if mode in (modes or []))


def print_claim(w: Out, pvc: Obj, full: bool) -> None:
    """printPersistentVolumeClaim."""
    meta, spec, status = (pvc.get(k) or {} for k in ("metadata", "spec", "status"))
    if full:
        header(w, pvc)
    w.write(0, f"StorageClass:\t{claim_class(pvc)}\n")
    if full:
        if meta.get("deletionTimestamp"):
            w.write(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'])})\n")
        else:
            w.write(0, f"Status:\t{status.get('phase', '')}\n")
    w.write(0, f"Volume:\t{spec.get('volumeName', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    if full:
        w.write(0, f"Finalizers:\t{go_list(meta.get('finalizers') or [])}\n")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = str((status.get("capacity") or {}).get("storage") or "0")
    w.write(0, f"Capacity:\t{capacity}\n")
    w.write(0, f"Access Modes:\t{modes}\n")
    if spec.get("volumeMode") is not None:
        w.write(0, f"VolumeMode:\t{spec['volumeMode']}\n")
    source = spec.get("dataSource")
    if source is not None:
        w.write(0, "DataSource:\n")
        if source.get("apiGroup") is not None:
            w.write(1, f"APIGroup:\t{source['apiGroup']}\n")
        w.write(1, f"Kind:\t{source.get('kind', '')}\n")
        w.write(1, f"Name:\t{source.get('name', '')}\n")


def _pods_using(session: Session, pvc: Obj) -> list[str]:
    """getPodsForPVC: pods mounting the claim, then pods owning it."""
    meta = pvc.get("metadata") or {}
    pods: list[Obj] = []
    query: dict[str, object] = {"limit": 500}
    while True:
        doc = session.client.get_json(f"/api/v1/namespaces/{meta.get('namespace', '')}/pods", query)
        pods += doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            break
        query = {**query, "continue": token}
    using: list[Obj] = []
    for p in pods:
        for v in (p.get("spec") or {}).get("volumes") or []:
            if (v.get("persistentVolumeClaim") or {}).get("claimName") == meta.get("name"):
                using.append(p)
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") != "Pod":
            continue
        owner = [p for p in pods if p["metadata"].get("uid") == ref.get("uid")]
        if owner and all(p["metadata"].get("uid") != ref.get("uid") for p in using):
            using.append(owner[0])
    return sorted(str(p["metadata"]["name"]) for p in using)


def persistent_volume_claim(
    session: Session, res: Resource, obj: Obj, w: Out, events: bool
) -> None:
    print_claim(w, obj, True)
    print_list(w, "Used By", _pods_using(session, obj))
    conditions = (obj.get("status") or {}).get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastProbeTime\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(
                1,
                f"{c.get('type', '')} \t{c.get('status', '')} \t{rfc1123z(c.get('lastProbeTime'))} "
                f"\t{rfc1123z(c.get('lastTransitionTime'))} \t{c.get('reason', '')} "
                f"\t{c.get('message', '')}\n",
            )
    if events:
        describe_events(session, obj, w, res.kind)


# --- PersistentVolume ---------------------------------------------------------------------------


def _volume_class(pv: Obj) -> str:
    """storageutil.GetPersistentVolumeClass: the beta annotation wins."""
    annotations = (pv.get("metadata") or {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return str(annotations["volume.beta.kubernetes.io/storage-class"])
    return str((pv.get("spec") or {}).get("storageClassName") or "")


def _node_affinity(w: Out, affinity: Obj | None) -> None:
    """printVolumeNodeAffinity."""
    w.write(0, "Node Affinity:\t")
    required = (affinity or {}).get("required")
    if required is None:
        w.write(0, "<none>\n")
        return
    w.write(0, "\n")
    w.write(1, "Required Terms:\t")
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        w.write(0, "<none>\n")
        return
    w.write(0, "\n")
    for i, term in enumerate(terms):
        w.write(2, f"Term {i}:\t")
        reqs = term.get("matchExpressions") or []
        if not reqs:
            w.write(0, "<none>\n")
        for j, req in enumerate(reqs):
            if j:
                w.write(2, "\t")
            text = f"{req.get('key', '')} {str(req.get('operator', '')).lower()}"
            if req.get("values"):
                text += f" [{', '.join(req['values'])}]"
            w.write(0, f"{text}\n")


def _pv_source(w: Out, spec: Obj) -> None:
    from kubectl_scipian.read.describers.volume_sources import PERSISTENT_VOLUME, print_source

    if spec.get("hostPath") is not None:
        h = spec["hostPath"]
        volume_fields(
            w,
            "HostPath (bare host directory volume)",
            [
                ("Path", h.get("path", "")),
                ("HostPathType", "<none>" if h.get("type") is None else h["type"]),
            ],
        )
        return
    if print_source(w, PERSISTENT_VOLUME, spec):
        return
    if spec.get("csi") is not None:
        s = spec["csi"]
        volume_fields(
            w,
            "CSI (a Container Storage Interface (CSI) volume source)",
            [
                ("Driver", s.get("driver", "")),
                ("FSType", s.get("fsType", "")),
                ("VolumeHandle", s.get("volumeHandle", "")),
                ("ReadOnly", go_bool(s.get("readOnly"))),
            ],
        )
        csi_attributes(w, s.get("volumeAttributes"))
        return
    w.write(1, "<unknown>\n")


def persistent_volume(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    """describePersistentVolume."""
    meta, spec, status = (obj.get(k) or {} for k in ("metadata", "spec", "status"))
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Finalizers:\t{go_list(meta.get('finalizers') or [])}\n")
    w.write(0, f"StorageClass:\t{_volume_class(obj)}\n")
    if meta.get("deletionTimestamp"):
        w.write(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'])})\n")
    else:
        w.write(0, f"Status:\t{status.get('phase', '')}\n")
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref is not None else ""
    w.write(0, f"Claim:\t{claim}\n")
    w.write(0, f"Reclaim Policy:\t{spec.get('persistentVolumeReclaimPolicy', '')}\n")
    w.write(0, f"Access Modes:\t{access_modes(spec.get('accessModes'))}\n")
    if spec.get("volumeMode") is not None:
        w.write(0, f"VolumeMode:\t{spec['volumeMode']}\n")
    w.write(0, f"Capacity:\t{(spec.get('capacity') or {}).get('storage') or '0'}\n")
    _node_affinity(w, spec.get("nodeAffinity"))
    w.write(0, f"Message:\t{status.get('message', '')}\n")
    w.write(0, "Source:\n")
    _pv_source(w, spec)
    if events:
        describe_events(session, obj, w, res.kind)

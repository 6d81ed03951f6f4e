"""PersistentVolumeClaim (also the claim templates of ephemeral volumes) and PersistentVolume."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kubectl_scipian.read.describers.events import describe_events
from kubectl_scipian.read.describers.fields import (
    Obj,
    go_bool,
    go_list,
    header,
    print_annotations,
    print_labels,
    print_list,
    rfc1123z,
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


def _ref(ref: Obj | None) -> str:
    """`%v` of a *SecretReference: its generated String(), `nil` when unset."""
    if ref is None:
        return "nil"
    return f"&SecretReference{{Name:{ref.get('name', '')},Namespace:{ref.get('namespace', '')},}}"


def _go_map(values: dict[str, str] | None) -> str:
    """`%v` of a map[string]string: `map[a:1 b:2]`, keys sorted."""
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted((values or {}).items())) + "]"


def _v(value: object) -> str:
    """`%v` of a plain field: Go's true/false, empty for unset."""
    if isinstance(value, bool):
        return go_bool(value)
    if isinstance(value, list):
        return go_list(value)
    return "" if value is None else str(value)


Getter = Callable[[Obj], object]


def _f(name: str, default: object = None) -> Getter:
    return lambda s: s.get(name, default)


def _flag(name: str) -> Getter:
    return lambda s: bool(s.get(name))


# The persistent volume sources kubectl prints, in the order of its switch, each with the
# rows of its print*VolumeSource helper (the ones also used for pods live in pod.py).
PV_SOURCES: list[tuple[str, str, list[tuple[str, Getter]]]] = [
    (
        "gcePersistentDisk",
        "GCEPersistentDisk (a Persistent Disk resource in Google Compute Engine)",
        [
            ("PDName", _f("pdName")),
            ("FSType", _f("fsType")),
            ("Partition", _f("partition", 0)),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "awsElasticBlockStore",
        "AWSElasticBlockStore (a Persistent Disk resource in AWS)",
        [
            ("VolumeID", _f("volumeID")),
            ("FSType", _f("fsType")),
            ("Partition", _f("partition", 0)),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "nfs",
        "NFS (an NFS mount that lasts the lifetime of a pod)",
        [("Server", _f("server")), ("Path", _f("path")), ("ReadOnly", _flag("readOnly"))],
    ),
    (
        "iscsi",
        "ISCSI (an ISCSI Disk resource that is attached to a kubelet's host machine and then "
        "exposed to the pod)",
        [
            ("TargetPortal", _f("targetPortal")),
            ("IQN", _f("iqn")),
            ("Lun", _f("lun", 0)),
            # kubectl's own format string has no colon here
            ("ISCSIInterface", _f("iscsiInterface")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
            ("Portals", lambda s: s.get("portals") or []),
            ("DiscoveryCHAPAuth", _flag("chapAuthDiscovery")),
            ("SessionCHAPAuth", _flag("chapAuthSession")),
            ("SecretRef", lambda s: _ref(s.get("secretRef"))),
            ("InitiatorName", lambda s: s.get("initiatorName") or "<none>"),
        ],
    ),
    (
        "glusterfs",
        "Glusterfs (a Glusterfs mount on the host that shares a pod's lifetime)",
        [
            ("EndpointsName", _f("endpoints")),
            ("EndpointsNamespace", lambda s: s.get("endpointsNamespace", "<unset>")),
            ("Path", _f("path")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "rbd",
        "RBD (a Rados Block Device mount on the host that shares a pod's lifetime)",
        [
            ("CephMonitors", lambda s: s.get("monitors") or []),
            ("RBDImage", _f("image")),
            ("FSType", _f("fsType")),
            ("RBDPool", _f("pool")),
            ("RadosUser", _f("user")),
            ("Keyring", _f("keyring")),
            ("SecretRef", lambda s: _ref(s.get("secretRef"))),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "quobyte",
        "Quobyte (a Quobyte mount on the host that shares a pod's lifetime)",
        [("Registry", _f("registry")), ("Volume", _f("volume")), ("ReadOnly", _flag("readOnly"))],
    ),
    (
        "vsphereVolume",
        "vSphereVolume (a Persistent Disk resource in vSphere)",
        [
            ("VolumePath", _f("volumePath")),
            ("FSType", _f("fsType")),
            ("StoragePolicyName", _f("storagePolicyName")),
        ],
    ),
    (
        "cinder",
        "Cinder (a Persistent Disk resource in OpenStack)",
        [
            ("VolumeID", _f("volumeID")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
            ("SecretRef", lambda s: _ref(s.get("secretRef"))),
        ],
    ),
    (
        "azureDisk",
        "AzureDisk (an Azure Data Disk mount on the host and bind mount to the pod)",
        [
            ("DiskName", _f("diskName")),
            ("DiskURI", _f("diskURI")),
            ("Kind: ", _f("kind")),
            ("FSType", _f("fsType")),
            ("CachingMode", _f("cachingMode")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "photonPersistentDisk",
        "PhotonPersistentDisk (a Persistent Disk resource in photon platform)",
        [("PdID", _f("pdID")), ("FSType", _f("fsType"))],
    ),
    (
        "portworxVolume",
        "PortworxVolume (a Portworx Volume resource)",
        [("VolumeID", _f("volumeID"))],
    ),
    (
        "scaleIO",
        "ScaleIO (a persistent volume backed by a block device in ScaleIO)",
        [
            ("Gateway", _f("gateway")),
            ("System", _f("system")),
            ("Protection Domain", _f("protectionDomain")),
            ("Storage Pool", _f("storagePool")),
            ("Storage Mode", _f("storageMode")),
            ("VolumeName", _f("volumeName")),
            ("SecretName", lambda s: (s.get("secretRef") or {}).get("name", "")),
            ("SecretNamespace", lambda s: (s.get("secretRef") or {}).get("namespace", "")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "local",
        "LocalVolume (a persistent volume backed by local storage on a node)",
        [("Path", _f("path"))],
    ),
    (
        "cephfs",
        "CephFS (a CephFS mount on the host that shares a pod's lifetime)",
        [
            ("Monitors", lambda s: s.get("monitors") or []),
            ("Path", _f("path")),
            ("User", _f("user")),
            ("SecretFile", _f("secretFile")),
            ("SecretRef", lambda s: _ref(s.get("secretRef"))),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "storageos",
        "StorageOS (a StorageOS Persistent Disk resource)",
        [
            ("VolumeName", _f("volumeName")),
            ("VolumeNamespace", _f("volumeNamespace")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "fc",
        "FC (a Fibre Channel disk)",
        [
            ("TargetWWNs", lambda s: ", ".join(s.get("targetWWNs") or [])),
            ("LUN", lambda s: "<none>" if s.get("lun") is None else s["lun"]),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "azureFile",
        "AzureFile (an Azure File Service mount on the host and bind mount to the pod)",
        [
            ("SecretName", _f("secretName")),
            ("SecretNamespace", _f("secretNamespace")),
            ("ShareName", _f("shareName")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    (
        "flexVolume",
        "FlexVolume (a generic volume resource that is provisioned/attached using an exec based "
        "plugin)",
        [
            ("Driver", _f("driver")),
            ("FSType", _f("fsType")),
            ("SecretRef", lambda s: _ref(s.get("secretRef"))),
            ("ReadOnly", _flag("readOnly")),
            ("Options", lambda s: _go_map(s.get("options"))),
        ],
    ),
    (
        "flocker",
        "Flocker (a Flocker volume mounted by the Flocker agent)",
        [("DatasetName", _f("datasetName")), ("DatasetUUID", _f("datasetUUID"))],
    ),
]


def _pv_source(w: Out, spec: Obj) -> None:
    from kubectl_scipian.read.describers.pod import csi_attributes, volume_fields

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
    for field, title, rows in PV_SOURCES:
        source = spec.get(field)
        if source is not None:
            w.write(2, f"Type:\t{title}\n")
            for label, value in rows:
                sep = "" if label in ("ISCSIInterface", "Kind: ") else ":"
                w.write(0, f"    {label}{sep}\t{_v(value(source))}\n")
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

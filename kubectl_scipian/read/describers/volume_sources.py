"""The volume sources kubectl prints row by row, for PersistentVolumes and for pods.

Most are the in-tree plugins of clusters that predate CSI; the apiserver still accepts
them. The common sources (hostPath, emptyDir, Secret, ConfigMap, claims, CSI, ...) are
printed by pod.py and storage.py themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubectl_scipian.read.describers.fields import Obj, go_bool, go_list

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out

Getter = Callable[[Obj], object]
Rows = list[tuple[str, Getter]]
# labels kubectl's format strings print without a colon
NO_COLON = {"ISCSIInterface", "Kind: "}


def secret_ref(ref: Obj | None) -> str:
    """`%v` of a *SecretReference: its generated String(), `nil` when unset."""
    if ref is None:
        return "nil"
    return f"&SecretReference{{Name:{ref.get('name', '')},Namespace:{ref.get('namespace', '')},}}"


def local_ref(ref: Obj | None) -> str:
    """`%v` of a *LocalObjectReference."""
    return "nil" if ref is None else f"&LocalObjectReference{{Name:{ref.get('name', '')},}}"


def _go_map(values: dict[str, str] | None) -> str:
    """`%v` of a map[string]string: `map[a:1 b:2]`, keys sorted."""
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted((values or {}).items())) + "]"


def _v(value: object) -> str:
    """`%v` of a plain field: Go's true/false, `[a b]`, empty for unset."""
    if isinstance(value, bool):
        return go_bool(value)
    if isinstance(value, list):
        return go_list(value)
    return "" if value is None else str(value)


def _f(name: str, default: object = None) -> Getter:
    return lambda s: s.get(name, default)


def _flag(name: str) -> Getter:
    return lambda s: bool(s.get(name))


def _ref(name: str, fmt: Callable[[Any], str]) -> Getter:
    return lambda s: fmt(s.get(name))


def _iscsi(ref: Callable[[Any], str]) -> Rows:
    return [
        ("TargetPortal", _f("targetPortal")),
        ("IQN", _f("iqn")),
        ("Lun", _f("lun", 0)),
        ("ISCSIInterface", _f("iscsiInterface")),
        ("FSType", _f("fsType")),
        ("ReadOnly", _flag("readOnly")),
        ("Portals", lambda s: s.get("portals") or []),
        ("DiscoveryCHAPAuth", _flag("chapAuthDiscovery")),
        ("SessionCHAPAuth", _flag("chapAuthSession")),
        ("SecretRef", _ref("secretRef", ref)),
        ("InitiatorName", lambda s: s.get("initiatorName") or "<none>"),
    ]


def _rbd(ref: Callable[[Any], str]) -> Rows:
    return [
        ("CephMonitors", lambda s: s.get("monitors") or []),
        ("RBDImage", _f("image")),
        ("FSType", _f("fsType")),
        ("RBDPool", _f("pool")),
        ("RadosUser", _f("user")),
        ("Keyring", _f("keyring")),
        ("SecretRef", _ref("secretRef", ref)),
        ("ReadOnly", _flag("readOnly")),
    ]


def _cephfs(ref: Callable[[Any], str]) -> Rows:
    return [
        ("Monitors", lambda s: s.get("monitors") or []),
        ("Path", _f("path")),
        ("User", _f("user")),
        ("SecretFile", _f("secretFile")),
        ("SecretRef", _ref("secretRef", ref)),
        ("ReadOnly", _flag("readOnly")),
    ]


def _flex(ref: Callable[[Any], str]) -> Rows:
    return [
        ("Driver", _f("driver")),
        ("FSType", _f("fsType")),
        ("SecretRef", _ref("secretRef", ref)),
        ("ReadOnly", _flag("readOnly")),
        ("Options", lambda s: _go_map(s.get("options"))),
    ]


def _scale_io(secret: bool) -> Rows:
    rows: Rows = [
        ("Gateway", _f("gateway")),
        ("System", _f("system")),
        ("Protection Domain", _f("protectionDomain")),
        ("Storage Pool", _f("storagePool")),
        ("Storage Mode", _f("storageMode")),
        ("VolumeName", _f("volumeName")),
    ]
    if secret:
        rows += [
            ("SecretName", lambda s: (s.get("secretRef") or {}).get("name", "")),
            ("SecretNamespace", lambda s: (s.get("secretRef") or {}).get("namespace", "")),
        ]
    return [*rows, ("FSType", _f("fsType")), ("ReadOnly", _flag("readOnly"))]


GCE = "GCEPersistentDisk (a Persistent Disk resource in Google Compute Engine)"
AWS = "AWSElasticBlockStore (a Persistent Disk resource in AWS)"
ISCSI = (
    "ISCSI (an ISCSI Disk resource that is attached to a kubelet's host machine and then "
    "exposed to the pod)"
)
GLUSTER = "Glusterfs (a Glusterfs mount on the host that shares a pod's lifetime)"
RBD = "RBD (a Rados Block Device mount on the host that shares a pod's lifetime)"
CINDER = "Cinder (a Persistent Disk resource in OpenStack)"
SCALE_IO = "ScaleIO (a persistent volume backed by a block device in ScaleIO)"
CEPHFS = "CephFS (a CephFS mount on the host that shares a pod's lifetime)"
STORAGE_OS = "StorageOS (a StorageOS Persistent Disk resource)"
AZURE_FILE = "AzureFile (an Azure File Service mount on the host and bind mount to the pod)"
FLEX = (
    "FlexVolume (a generic volume resource that is provisioned/attached using an exec based plugin)"
)
DISK: Rows = [("FSType", _f("fsType")), ("Partition", _f("partition", 0))]
SHARED: dict[str, tuple[str, Rows]] = {
    "gcePersistentDisk": (
        GCE,
        [("PDName", _f("pdName")), *DISK, ("ReadOnly", _flag("readOnly"))],
    ),
    "awsElasticBlockStore": (
        AWS,
        [("VolumeID", _f("volumeID")), *DISK, ("ReadOnly", _flag("readOnly"))],
    ),
    "quobyte": (
        "Quobyte (a Quobyte mount on the host that shares a pod's lifetime)",
        [("Registry", _f("registry")), ("Volume", _f("volume")), ("ReadOnly", _flag("readOnly"))],
    ),
    "vsphereVolume": (
        "vSphereVolume (a Persistent Disk resource in vSphere)",
        [
            ("VolumePath", _f("volumePath")),
            ("FSType", _f("fsType")),
            ("StoragePolicyName", _f("storagePolicyName")),
        ],
    ),
    "azureDisk": (
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
    "photonPersistentDisk": (
        "PhotonPersistentDisk (a Persistent Disk resource in photon platform)",
        [("PdID", _f("pdID")), ("FSType", _f("fsType"))],
    ),
    "portworxVolume": (
        "PortworxVolume (a Portworx Volume resource)",
        [("VolumeID", _f("volumeID"))],
    ),
    "fc": (
        "FC (a Fibre Channel disk)",
        [
            ("TargetWWNs", lambda s: ", ".join(s.get("targetWWNs") or [])),
            ("LUN", lambda s: "<none>" if s.get("lun") is None else s["lun"]),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    "flocker": (
        "Flocker (a Flocker volume mounted by the Flocker agent)",
        [("DatasetName", _f("datasetName")), ("DatasetUUID", _f("datasetUUID"))],
    ),
}
STORAGE_OS_ROWS: Rows = [
    ("VolumeName", _f("volumeName")),
    ("VolumeNamespace", _f("volumeNamespace")),
    ("FSType", _f("fsType")),
    ("ReadOnly", _flag("readOnly")),
]

# describePersistentVolume's sources (each with its print*PersistentVolumeSource rows)
PERSISTENT_VOLUME: dict[str, tuple[str, Rows]] = {
    **SHARED,
    "nfs": (
        "NFS (an NFS mount that lasts the lifetime of a pod)",
        [("Server", _f("server")), ("Path", _f("path")), ("ReadOnly", _flag("readOnly"))],
    ),
    "iscsi": (ISCSI, _iscsi(secret_ref)),
    "glusterfs": (
        GLUSTER,
        [
            ("EndpointsName", _f("endpoints")),
            ("EndpointsNamespace", lambda s: s.get("endpointsNamespace", "<unset>")),
            ("Path", _f("path")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    "rbd": (RBD, _rbd(secret_ref)),
    "cinder": (
        CINDER,
        [
            ("VolumeID", _f("volumeID")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
            ("SecretRef", _ref("secretRef", secret_ref)),
        ],
    ),
    "scaleIO": (SCALE_IO, _scale_io(True)),
    "local": (
        "LocalVolume (a persistent volume backed by local storage on a node)",
        [("Path", _f("path"))],
    ),
    "cephfs": (CEPHFS, _cephfs(secret_ref)),
    "storageos": (STORAGE_OS, STORAGE_OS_ROWS),
    "azureFile": (
        AZURE_FILE,
        [
            ("SecretName", _f("secretName")),
            ("SecretNamespace", _f("secretNamespace")),
            ("ShareName", _f("shareName")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    "flexVolume": (FLEX, _flex(secret_ref)),
}

# describeVolumes' sources that pod.py does not print itself (the pod variants of the types)
POD: dict[str, tuple[str, Rows]] = {
    **SHARED,
    "gitRepo": (
        "GitRepo (a volume that is pulled from git when the pod is created)",
        [("Repository", _f("repository")), ("Revision", _f("revision"))],
    ),
    "iscsi": (ISCSI, _iscsi(local_ref)),
    "glusterfs": (
        GLUSTER,
        [("EndpointsName", _f("endpoints")), ("Path", _f("path")), ("ReadOnly", _flag("readOnly"))],
    ),
    "rbd": (RBD, _rbd(local_ref)),
    "cinder": (
        CINDER,
        [
            ("VolumeID", _f("volumeID")),
            ("FSType", _f("fsType")),
            ("ReadOnly", _flag("readOnly")),
            ("SecretRef", _ref("secretRef", local_ref)),
        ],
    ),
    "scaleIO": (SCALE_IO, _scale_io(False)),
    "cephfs": (CEPHFS, _cephfs(local_ref)),
    "storageos": (STORAGE_OS, STORAGE_OS_ROWS),
    "azureFile": (
        AZURE_FILE,
        [
            ("SecretName", _f("secretName")),
            ("ShareName", _f("shareName")),
            ("ReadOnly", _flag("readOnly")),
        ],
    ),
    "flexVolume": (FLEX, _flex(local_ref)),
}


def print_source(w: Out, table: dict[str, tuple[str, Rows]], spec: Obj) -> bool:
    """The first source of `table` that `spec` has, as kubectl prints it; False when none."""
    for field, (title, rows) in table.items():
        source = spec.get(field)
        if source is None:
            continue
        w.write(2, f"Type:\t{title}\n")
        for label, value in rows:
            sep = "" if label in NO_COLON else ":"
            w.write(0, f"    {label}{sep}\t{_v(value(source))}\n")
        return True
    return False

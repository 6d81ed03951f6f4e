"""`describe` of every kind kubectl 1.36 has a describer for that test_parity_describe leaves
out, and server warnings, through kubectl-scipian and the real kubectl: same bytes, same exit.

The objects live in this module's namespace, `NS_K`; cluster-scoped ones carry the prefix
`parity-kinds-`. Both tools read with the same token: a ServiceAccount of `NS_K` bound to
`view` plus read access to the cluster-scoped and RBAC kinds `view` leaves out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Stack
from tests.e2e.parity_runner import Parity, apply, view_kubeconfig
from tests.helpers import wait_for

pytestmark = pytest.mark.stack
NS_K = "parity-describe-kinds"
STUCK = "parity-kinds-stuck"  # a namespace held in Terminating by a finalizer
HOLD = "parity.scipian.io/hold"
GROUP = "parity-kinds.scipian.io"
P = "parity-kinds-"


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NS_K, "labels": labels}


def _template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": f"registry.local/{app}:1.0"}]},
    }


def _one_resource_limits() -> list[dict[str, Any]]:
    """kubectl walks a limit item's resources in Go map order (random): one resource per item
    keeps its output fixed."""

    def lr(name: str, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": _meta(name),
            "spec": {"limits": [item]},
        }

    return [
        lr(
            "cpu-defaults",
            {
                "type": "Container",
                "default": {"cpu": "500m"},
                "defaultRequest": {"cpu": "100m"},
                "min": {"cpu": "50m"},
                "max": {"cpu": "2"},
                "maxLimitRequestRatio": {"cpu": "10"},
            },
        ),
        lr(
            "memory-defaults",
            {
                "type": "Container",
                "default": {"memory": "256Mi"},
                "defaultRequest": {"memory": "128Mi"},
            },
        ),
        lr("pod-max", {"type": "Pod", "max": {"cpu": "4"}}),
        lr(
            "claim-size",
            {
                "type": "PersistentVolumeClaim",
                "min": {"storage": "1Gi"},
                "max": {"storage": "50Gi"},
            },
        ),
    ]


def _namespaced() -> list[dict[str, Any]]:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota"}
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget"}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"}
    netpol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {
            **quota,
            "metadata": _meta("compute", team="platform"),
            "spec": {
                "hard": {
                    "requests.cpu": "4",
                    "requests.memory": "8Gi",
                    "limits.cpu": "8",
                    "limits.memory": "16Gi",
                    "pods": "20",
                }
            },
        },
        {
            **quota,
            "metadata": _meta("objects"),
            "spec": {
                "hard": {
                    "configmaps": "10",
                    "secrets": "10",
                    "services": "5",
                    "persistentvolumeclaims": "4",
                    "count/deployments.apps": "5",
                }
            },
        },
        {
            **quota,
            "metadata": _meta("best-effort"),
            "spec": {"scopes": ["BestEffort"], "hard": {"pods": "5"}},
        },
        {
            **quota,
            "metadata": _meta("long-running"),
            "spec": {
                "scopes": ["NotTerminating", "NotBestEffort"],
                "hard": {"pods": "10", "limits.cpu": "6"},
            },
        },
        *_one_resource_limits(),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("web", app="web"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": _template("web"),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("web"),
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": _meta("legacy-volumes", app="storage-test"),
            "spec": {
                "containers": [{"name": "main", "image": "registry.local/main:1.0"}],
                "volumes": POD_VOLUMES,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {**_meta("legacy", app="legacy"), "annotations": {"owner": "team-b"}},
            "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": _template("legacy")},
        },
        {
            **pdb,
            "metadata": _meta("web"),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
        {
            **pdb,
            "metadata": _meta("legacy"),
            "spec": {
                "maxUnavailable": "50%",
                "selector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["legacy"]}]
                },
            },
        },
        {
            **hpa,
            "metadata": _meta("web"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    },
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "memory",
                            "target": {"type": "AverageValue", "averageValue": "200Mi"},
                        },
                    },
                ],
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": 300,
                        "policies": [
                            {"type": "Percent", "value": 10, "periodSeconds": 60},
                            {"type": "Pods", "value": 2, "periodSeconds": 60},
                        ],
                        "selectPolicy": "Min",
                    },
                    "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
                },
            },
        },
        {
            **hpa,
            "metadata": _meta("queue"),
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "v1",
                    "kind": "ReplicationController",
                    "name": "legacy",
                },
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "jobs_in_flight"},
                            "target": {"type": "AverageValue", "averageValue": "30"},
                        },
                    },
                    {
                        "type": "Object",
                        "object": {
                            "metric": {"name": "requests_per_second"},
                            "describedObject": {
                                "apiVersion": "v1",
                                "kind": "Service",
                                "name": "web",
                            },
                            "target": {"type": "Value", "value": "2k"},
                        },
                    },
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "queue_depth"},
                            "target": {"type": "AverageValue", "averageValue": "100"},
                        },
                    },
                    {
                        "type": "ContainerResource",
                        "containerResource": {
                            "name": "cpu",
                            "container": "legacy",
                            "target": {"type": "Utilization", "averageUtilization": 60},
                        },
                    },
                ],
            },
        },
        {
            **netpol,
            "metadata": _meta("default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            **netpol,
            "metadata": {**_meta("web-allow"), "annotations": {"ticket": "NET-42"}},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {"matchLabels": {"role": "frontend"}}},
                            {
                                "namespaceSelector": {"matchLabels": {"team": "ops"}},
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "tier", "operator": "NotIn", "values": ["db"]}
                                    ]
                                },
                            },
                            {"namespaceSelector": {}},
                            {
                                "ipBlock": {
                                    "cidr": "10.0.0.0/8",
                                    "except": ["10.1.0.0/16", "10.2.0.0/16"],
                                }
                            },
                        ],
                        "ports": [
                            {"port": 8080},
                            {"protocol": "UDP", "port": 53},
                            {"port": 30000, "endPort": 32767},
                            {"port": "http"},
                        ],
                    },
                    {},
                ],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}],
            },
        },
        {
            **netpol,
            "metadata": _meta("isolate-db"),
            "spec": {
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                "policyTypes": ["Ingress"],
            },
        },
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {**_meta("config-editor"), "annotations": {"purpose": "edit app config"}},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["get", "list", "watch", "update"],
                },
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "deployments/scale"],
                    "verbs": ["get", "patch"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": ["app-a", "app-b"],
                    "verbs": ["get"],
                },
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": _meta("config-editors"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "config-editor",
            },
            "subjects": [
                {
                    "kind": "User",
                    "name": "jane@example.com",
                    "apiGroup": "rbac.authorization.k8s.io",
                },
                {"kind": "Group", "name": "developers", "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": NS_K},
            ],
        },
        {
            # kubectl has no describer for Leases: the generic one, as for custom resources
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": _meta("scheduler-leader"),
            "spec": {
                "holderIdentity": "scheduler-7d4b9_0c1e",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-11-01T08:00:00.000000Z",
                "renewTime": "2026-11-01T08:30:00.000000Z",
                "leaseTransitions": 3,
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": _meta(
                "external-db", **{"endpointslice.kubernetes.io/managed-by": "parity.scipian.io"}
            ),
            "addressType": "IPv4",
            "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"}, {"protocol": "UDP"}],
            "endpoints": [
                {
                    "addresses": ["192.0.2.10"],
                    "conditions": {"ready": True, "serving": True},
                    "hostname": "db-0",
                    "nodeName": "kwok-node-0",
                    "zone": "zone-a",
                    "targetRef": {"kind": "Pod", "name": "db-0", "namespace": NS_K},
                },
                {"addresses": ["192.0.2.11", "192.0.2.12"], "conditions": {"ready": False}},
                {"addresses": ["192.0.2.13"], "conditions": {}},
            ],
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": _meta(
                "empty", **{"endpointslice.kubernetes.io/managed-by": "parity.scipian.io"}
            ),
            "addressType": "IPv6",
            "endpoints": [],
        },
    ]


# Volume sources of clusters that predate CSI, which the apiserver still accepts.
LEGACY_SOURCES: dict[str, dict[str, Any]] = {
    "iscsi": {
        "targetPortal": "10.0.0.5:3260",
        "iqn": "iqn.2001-04.com.example:storage.disk1",
        "lun": 1,
        "portals": ["10.0.0.6:3260", "10.0.0.7:3260"],
        "chapAuthSession": True,
        "secretRef": {"name": "chap", "namespace": NS_K},
    },
    "fc": {"targetWWNs": ["500a0982991b8dc5", "500a0982891b8dc5"], "lun": 2, "fsType": "ext4"},
    "rbd": {
        "monitors": ["10.0.0.1:6789", "10.0.0.2:6789"],
        "image": "pvc-123",
        "secretRef": {"name": "ceph"},
    },
    "flexVolume": {"driver": "example.com/lvm", "options": {"volumegroup": "vg0", "size": "20G"}},
    "azureFile": {"secretName": "azure-creds", "shareName": "team-share"},
    "glusterfs": {"endpoints": "gluster", "path": "vol-1", "readOnly": True},
}


# The same plugins as a pod's volumes (their pod variants print differently), and a few more.
POD_VOLUMES: list[dict[str, Any]] = [
    {"name": "iscsi", "iscsi": {**LEGACY_SOURCES["iscsi"], "secretRef": {"name": "chap"}}},
    {"name": "fc", "fc": LEGACY_SOURCES["fc"]},
    {"name": "rbd", "rbd": {**LEGACY_SOURCES["rbd"], "keyring": "/etc/ceph/keyring"}},
    {"name": "flex", "flexVolume": {**LEGACY_SOURCES["flexVolume"], "secretRef": {"name": "lvm"}}},
    {"name": "azure-file", "azureFile": LEGACY_SOURCES["azureFile"]},
    {"name": "gluster", "glusterfs": LEGACY_SOURCES["glusterfs"]},
    {"name": "cephfs", "cephfs": {"monitors": ["10.0.0.1:6789"], "path": "/data", "user": "app"}},
    {"name": "cinder", "cinder": {"volumeID": "vol-9", "fsType": "xfs"}},
    {
        "name": "aws",
        "awsElasticBlockStore": {"volumeID": "vol-0abc", "fsType": "ext4", "partition": 1},
    },
]


def _cluster_scoped() -> list[dict[str, Any]]:
    storage, rbac = "storage.k8s.io/v1", "rbac.authorization.k8s.io/v1"
    return [
        {
            "apiVersion": storage,
            "kind": "StorageClass",
            "metadata": {"name": f"{P}fast", "labels": {"tier": "ssd"}},
            "provisioner": "example.com/fast",
            "parameters": {"type": "ssd", "replication": "3"},
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
            "mountOptions": ["debug", "noatime"],
            "allowedTopologies": [
                {
                    "matchLabelExpressions": [
                        {"key": "topology.kubernetes.io/zone", "values": ["zone-a", "zone-b"]},
                        {"key": "example.com/rack", "values": ["r1"]},
                    ]
                }
            ],
        },
        {
            "apiVersion": storage,
            "kind": "StorageClass",
            "metadata": {"name": f"{P}local"},
            "provisioner": "kubernetes.io/no-provisioner",
        },
        {
            "apiVersion": storage,
            "kind": "VolumeAttributesClass",
            "metadata": {"name": f"{P}gold"},
            "driverName": "example.com/csi",
            "parameters": {"iops": "5000", "throughput": "200Mi"},
        },
        {
            "apiVersion": storage,
            "kind": "CSINode",
            "metadata": {"name": f"{P}node"},
            "spec": {
                "drivers": [
                    {
                        "name": "ebs.csi.example.com",
                        "nodeID": "i-0abc123",
                        "topologyKeys": [
                            "topology.ebs.csi.example.com/zone",
                            "kubernetes.io/hostname",
                        ],
                        "allocatable": {"count": 25},
                    },
                    {"name": "nfs.csi.example.com", "nodeID": "node-1"},
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{P}local-ssd", "labels": {"disk": "ssd"}},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": f"{P}local",
                "volumeMode": "Filesystem",
                "local": {"path": "/mnt/disks/ssd1"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": ["kwok-node-0", "kwok-node-1"],
                                    },
                                    {"key": "example.com/broken", "operator": "DoesNotExist"},
                                ]
                            },
                            {
                                "matchExpressions": [
                                    {"key": "type", "operator": "In", "values": ["kwok"]}
                                ]
                            },
                        ]
                    }
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"{P}nfs",
                "annotations": {"pv.kubernetes.io/provisioned-by": "hand"},
            },
            "spec": {
                "capacity": {"storage": "100Gi"},
                "accessModes": ["ReadWriteMany", "ReadOnlyMany"],
                "mountOptions": ["nfsvers=4.1"],
                "nfs": {"server": "nfs.example.com", "path": "/exports/shared", "readOnly": True},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{P}csi"},
            "spec": {
                "capacity": {"storage": "1500Mi"},
                "accessModes": ["ReadWriteOncePod"],
                "storageClassName": f"{P}fast",
                "csi": {
                    "driver": "ebs.csi.example.com",
                    "volumeHandle": "vol-0123456789",
                    "fsType": "ext4",
                    "volumeAttributes": {"encrypted": "true", "type": "gp3", "zone": "zone-a"},
                },
            },
        },
        *(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"{P}{field.lower()}"},
                "spec": {
                    "capacity": {"storage": "20Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    field: source,
                },
            }
            for field, source in LEGACY_SOURCES.items()
        ),
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": f"{P}batch", "annotations": {"owner": "data"}},
            "value": 1000,
            "preemptionPolicy": "Never",
            "description": "Batch work that waits rather than preempts.",
        },
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": f"{P}critical"},
            "value": 900000,
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                "name": f"{P}nginx",
                "labels": {"app.kubernetes.io/name": "ingress-nginx"},
            },
            "spec": {
                "controller": "k8s.io/ingress-nginx",
                "parameters": {
                    "apiGroup": "k8s.example.com",
                    "kind": "IngressParameters",
                    "name": "external-lb",
                },
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": f"{P}plain"},
            "spec": {"controller": "example.com/ingress"},
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": f"{P}auditor"},
            "rules": [
                {"nonResourceURLs": ["/healthz", "/metrics", "/logs/*"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]},
                {"apiGroups": ["apps", "batch"], "resources": ["jobs"], "verbs": ["watch"]},
            ],
        },
        {
            # nor for ValidatingAdmissionPolicies
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": f"{P}replicas"},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["apps"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["deployments"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "object.spec.replicas <= 5", "message": "at most 5 replicas"}
                ],
            },
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{P}auditors", "labels": {"team": "security"}},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{P}auditor",
            },
            "subjects": [
                {"kind": "Group", "name": "auditors", "apiGroup": "rbac.authorization.k8s.io"},
                {"kind": "ServiceAccount", "name": "scanner", "namespace": NS_K},
            ],
        },
    ]


def _gizmo_version(name: str, storage: bool, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                },
            }
        },
        **extra,
    }


GIZMO_WARNING = f"{GROUP}/v1beta1 Gizmo is deprecated; move to {GROUP}/v1 by 2027"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gizmos.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "scope": "Namespaced",
        "versions": [
            _gizmo_version("v1", True),
            _gizmo_version("v1beta1", False, deprecated=True, deprecationWarning=GIZMO_WARNING),
            _gizmo_version("v1alpha1", False, deprecated=True),
        ],
    },
}

# view, plus the kinds view cannot read: the reader of this module's cases.
READER: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("kinds-reader")},
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{NS_K}-reader"},
        "rules": [
            {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list"]},
            {
                "apiGroups": ["storage.k8s.io"],
                "resources": ["storageclasses", "volumeattributesclasses", "csinodes"],
                "verbs": ["get", "list"],
            },
            {
                "apiGroups": ["scheduling.k8s.io"],
                "resources": ["priorityclasses"],
                "verbs": ["get", "list"],
            },
            {
                "apiGroups": ["networking.k8s.io"],
                "resources": ["ingressclasses", "servicecidrs", "ipaddresses"],
                "verbs": ["get", "list"],
            },
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"],
                "verbs": ["get", "list"],
            },
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests"],
                "verbs": ["get", "list"],
            },
            {"apiGroups": [GROUP], "resources": ["gizmos"], "verbs": ["get", "list"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "list"],
            },
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": ["validatingadmissionpolicies"],
                "verbs": ["get", "list"],
            },
        ],
    },
    *(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{NS_K}-{role}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "kinds-reader", "namespace": NS_K}],
        }
        for role in ("view", f"{NS_K}-reader")
    ),
]


def _csr_pem(cn: str, orgs: list[str], sans: bool) -> str:
    """A real PKCS#10 request, as `openssl req` or a kubelet would make one."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    name += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    name += [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Berlin"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Platform"),
    ]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(name))
    if sans:
        alt = [
            x509.DNSName(f"{cn}.example.com"),
            x509.DNSName("localhost"),
            x509.RFC822Name(f"{cn}@example.com"),
            x509.UniformResourceIdentifier(f"spiffe://example.com/{cn}"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
            x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding

    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode()


def _csr(name: str, cn: str, orgs: list[str], sans: bool, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": f"{P}{name}", "labels": {"requested-by": "parity"}},
        "spec": {
            "request": base64.b64encode(_csr_pem(cn, orgs, sans).encode()).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth", "digital signature"],
            **spec,
        },
    }


def _exists(stack: Stack, *what: str) -> bool:
    return stack.kubectl("dev", "get", *what, check=False).returncode == 0


def _stuck_namespace(stack: Stack, admin: Path, kubectl: str) -> None:
    """A namespace that cannot finish terminating: the namespace controller's Conditions."""
    if _exists(stack, "ns", STUCK) and not _exists(stack, "cm", "held", "-n", STUCK):
        wait_for("the last run's namespace to go", lambda: not _exists(stack, "ns", STUCK))
    if not _exists(stack, "ns", STUCK):
        apply(
            admin, kubectl, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": STUCK}}]
        )
        wait_for("its ServiceAccount", lambda: _exists(stack, "sa", "default", "-n", STUCK))
        held = {"name": "held", "namespace": STUCK, "finalizers": [HOLD]}
        apply(
            admin,
            kubectl,
            [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": held, "data": {"a": "b"}}],
        )
    stack.kubectl("dev", "delete", "ns", STUCK, "--wait=false", check=False)

    def conditions() -> bool:
        ns = json.loads(stack.kubectl("dev", "get", "ns", STUCK, "-o", "json").stdout)
        types = {c["type"]: c["status"] for c in ns["status"].get("conditions") or []}
        return types.get("NamespaceFinalizersRemaining") == "True"

    wait_for("the namespace's conditions", conditions)


def _release_stuck_namespace(stack: Stack) -> None:
    stack.kubectl(
        "dev",
        "patch",
        "cm",
        "held",
        "-n",
        STUCK,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
        check=False,
    )


@pytest.fixture(scope="module")
def kinds(dev: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parity]:
    stack = dev
    admin, kubectl = stack.kubeconfig("dev"), stack.kubectl_path
    tmp = tmp_path_factory.mktemp("parity-kinds")
    view_kubeconfig(admin, kubectl, tmp / "view.kubeconfig")  # the shared parity namespace
    apply(
        admin, kubectl, [CRD, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS_K}}]
    )
    stack.kubectl("dev", "wait", "--for=condition=Established", f"crd/gizmos.{GROUP}")
    wait_for("default ServiceAccount", lambda: _exists(stack, "sa", "default", "-n", NS_K))
    # limits first: the quotas want every pod to ask for cpu and memory
    apply(admin, kubectl, READER + _one_resource_limits())
    apply(admin, kubectl, _namespaced() + _cluster_scoped())
    gizmos = [
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Gizmo",
            "metadata": _meta(name),
            "spec": {"size": size},
        }
        for name, size in (("one", 1), ("two", 2))
    ]
    apply(admin, kubectl, gizmos)
    if not _exists(stack, "csr", f"{P}alice"):
        csrs = [
            _csr("alice", "alice", ["developers", "qa"], True, expirationSeconds=86400),
            _csr("bob", "bob", ["developers"], False),
        ]
        apply(admin, kubectl, csrs)
        stack.kubectl("dev", "certificate", "approve", f"{P}bob")
    _stuck_namespace(stack, admin, kubectl)
    stack.kubectl("dev", "rollout", "status", "deploy/web", "-n", NS_K, "--timeout=90s")

    def settled() -> bool:
        pods = json.loads(stack.kubectl("dev", "get", "pods", "-n", NS_K, "-o", "json").stdout)[
            "items"
        ]
        if len(pods) != 5 or any(p["status"].get("phase") != "Running" for p in pods):
            return False
        quotas = json.loads(stack.kubectl("dev", "get", "quota", "-n", NS_K, "-o", "json").stdout)[
            "items"
        ]
        used = {q["metadata"]["name"]: q["status"].get("used", {}) for q in quotas}
        pdbs = json.loads(stack.kubectl("dev", "get", "pdb", "-n", NS_K, "-o", "json").stdout)[
            "items"
        ]
        hpas = json.loads(stack.kubectl("dev", "get", "hpa", "-n", NS_K, "-o", "json").stdout)[
            "items"
        ]
        return (
            used.get("compute", {}).get("pods") == "5"
            and used.get("objects", {}).get("services") == "1"
            and all(p["status"].get("expectedPods") == 2 for p in pdbs)
            and all(h["status"].get("conditions") for h in hpas)
        )

    wait_for("pods, quotas, budgets and autoscalers settled", settled)
    token = stack.kubectl(
        "dev", "create", "token", "kinds-reader", "-n", NS_K, "--duration=2h"
    ).stdout
    config = json.loads((tmp / "view.kubeconfig").read_text())
    config["users"][0]["user"]["token"] = token.strip()
    path = tmp / "kinds.kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    yield Parity(kubectl, path, tmp / "cache")
    _release_stuck_namespace(stack)


KIND_CASES: list[tuple[str, ...]] = [
    # ResourceQuota, LimitRange, and the Namespace that shows both
    ("quota", "compute"),
    ("resourcequota", "objects"),
    ("quota", "best-effort"),
    ("quota", "long-running"),
    ("quota",),
    ("limits", "cpu-defaults"),
    ("limitrange", "claim-size"),
    ("limits",),
    ("ns", NS_K),
    ("namespace", STUCK),
    # HorizontalPodAutoscaler (its controller's events repeat while metrics are missing)
    ("hpa", "web", "--show-events=false"),
    ("hpa", "queue", "--show-events=false"),
    ("horizontalpodautoscalers.v1.autoscaling", "web", "--show-events=false"),
    # PodDisruptionBudget, ReplicationController
    ("pdb", "web"),
    ("pdb", "legacy"),
    ("rc", "legacy"),
    ("replicationcontroller",),
    # NetworkPolicy
    ("netpol", "default-deny"),
    ("networkpolicy", "web-allow"),
    ("netpol", "isolate-db"),
    # EndpointSlice
    ("endpointslice", "external-db"),
    ("endpointslices", "empty"),
    ("endpointslices", "-l", "kubernetes.io/service-name=web"),
    # the RBAC kinds
    ("role", "config-editor"),
    ("rolebinding", "config-editors"),
    ("clusterrole", f"{P}auditor"),
    ("clusterrolebinding", f"{P}auditors"),
    ("clusterrole", "view"),
    ("clusterrole", "system:node-proxier"),
    # storage
    ("storageclass", f"{P}fast"),
    ("sc", f"{P}local"),
    ("pv", f"{P}local-ssd"),
    ("pv", f"{P}nfs"),
    ("persistentvolume", f"{P}csi"),
    ("volumeattributesclass", f"{P}gold"),
    ("csinode", f"{P}node"),
    *(("pv", f"{P}{field.lower()}") for field in LEGACY_SOURCES),
    ("pod", "legacy-volumes"),
    # scheduling, ingress classes, certificates, the cluster's service ranges
    ("priorityclass", f"{P}batch"),
    ("pc", f"{P}critical"),
    ("ingressclass", f"{P}nginx"),
    ("ingressclass", f"{P}plain"),
    ("csr", f"{P}alice"),
    ("csr", f"{P}bob"),
    ("servicecidr", "kubernetes"),
    # kinds kubectl has no describer for
    ("lease", "scheduler-leader"),
    ("validatingadmissionpolicy", f"{P}replicas"),
    # several at once, a prefix, a missing one
    ("pv,sc",),
    ("pdb", "leg"),
    ("quota", "nope"),
]


@pytest.mark.parametrize("args", KIND_CASES, ids=lambda a: " ".join(a))
def test_describe_kind(kinds: Parity, args: tuple[str, ...]) -> None:
    want, got = kinds.compare("describe", "-n", NS_K, *args, record="describe")
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc


def test_describe_ip_address(kinds: Parity, dev: Stack) -> None:
    """The IPAddress object the apiserver keeps for the Service's cluster IP."""
    ip = dev.kubectl(
        "dev", "get", "svc", "web", "-n", NS_K, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    want, got = kinds.compare("describe", "ipaddress", ip, record="describe")
    assert (got.rc, got.err, got.out) == (want.rc, want.err, want.out)
    assert f"Name:         {ip}" in got.out


WARNING_CASES: list[tuple[str, ...]] = [
    ("get", f"gizmos.v1beta1.{GROUP}"),
    ("get", f"gizmos.v1alpha1.{GROUP}", "one", "two"),
    ("get", f"gizmos.v1beta1.{GROUP}", "one", "-o", "yaml"),
    ("get", f"gizmos.v1beta1.{GROUP},gizmos.v1alpha1.{GROUP}"),
    ("get", f"gizmos.v1beta1.{GROUP}", "nope"),
    ("describe", f"gizmos.v1beta1.{GROUP}", "one"),
    ("describe", f"gizmos.v1alpha1.{GROUP}"),
    # v1 Endpoints is deprecated from 1.33 on
    ("describe", "endpoints", "web"),
    ("get", "endpoints"),
    ("get", f"gizmos.{GROUP}"),
]


@pytest.mark.parametrize("args", WARNING_CASES, ids=lambda a: " ".join(a))
def test_server_warnings(kinds: Parity, args: tuple[str, ...]) -> None:
    """Deprecated versions: the apiserver's Warning headers, once each, on stderr."""
    want, got = kinds.compare(args[0], "-n", NS_K, *args[1:], record=args[0])
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc


def test_server_warning_wording(kinds: Parity) -> None:
    """The custom deprecation text reaches stderr as kubectl words it, exactly once."""
    got = kinds.run_plugin("get", "-n", NS_K, f"gizmos.v1beta1.{GROUP}", "one", "two")
    assert got.rc == 0
    assert got.err.splitlines() == [f"Warning: {GIZMO_WARNING}"]

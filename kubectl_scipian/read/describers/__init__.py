"""One describer per kind kubectl has a built-in layout for; `generic` for the rest.

The kinds are those of kubectl's `describerMap` (staging/src/k8s.io/kubectl/pkg/describe/
describe.go, kubectl 1.36), keyed by API group and kind as kubectl keys them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Describer
    from kubectl_scipian.read.discovery import Resource

NETWORKING = "networking.k8s.io"
RBAC = "rbac.authorization.k8s.io"


def describer_for(res: Resource) -> Describer:
    from kubectl_scipian.read.describers import (
        autoscaling,
        certificates,
        common,
        generic,
        network,
        node,
        pod,
        quota,
        rbac,
        scheduling,
        service,
        storage,
        storage_classes,
        workloads,
    )

    builtin: dict[tuple[str, str], Describer] = {
        ("", "ConfigMap"): common.configmap,
        ("", "Namespace"): common.namespace,
        ("", "Secret"): common.secret,
        ("", "ServiceAccount"): common.service_account,
        ("", "Pod"): pod.pod,
        ("", "ReplicationController"): workloads.replication_controller,
        ("", "Service"): service.service,
        ("", "Endpoints"): service.endpoints,
        ("", "Node"): node.node,
        ("", "LimitRange"): quota.limit_range,
        ("", "ResourceQuota"): quota.resource_quota,
        ("", "PersistentVolume"): storage.persistent_volume,
        ("", "PersistentVolumeClaim"): storage.persistent_volume_claim,
        ("apps", "Deployment"): workloads.deployment,
        ("apps", "ReplicaSet"): workloads.replica_set,
        ("apps", "StatefulSet"): workloads.stateful_set,
        ("apps", "DaemonSet"): workloads.daemon_set,
        ("batch", "Job"): workloads.job,
        ("batch", "CronJob"): workloads.cron_job,
        ("autoscaling", "HorizontalPodAutoscaler"): autoscaling.horizontal_pod_autoscaler,
        ("certificates.k8s.io", "CertificateSigningRequest"): (
            certificates.certificate_signing_request
        ),
        ("discovery.k8s.io", "EndpointSlice"): network.endpoint_slice,
        (NETWORKING, "Ingress"): service.ingress,
        (NETWORKING, "IngressClass"): network.ingress_class,
        (NETWORKING, "NetworkPolicy"): network.network_policy,
        (NETWORKING, "ServiceCIDR"): network.service_cidr,
        (NETWORKING, "IPAddress"): network.ip_address,
        ("policy", "PodDisruptionBudget"): scheduling.pod_disruption_budget,
        ("scheduling.k8s.io", "PriorityClass"): scheduling.priority_class,
        (RBAC, "Role"): rbac.role,
        (RBAC, "ClusterRole"): rbac.role,
        (RBAC, "RoleBinding"): rbac.binding,
        (RBAC, "ClusterRoleBinding"): rbac.binding,
        ("storage.k8s.io", "StorageClass"): storage_classes.storage_class,
        ("storage.k8s.io", "VolumeAttributesClass"): storage_classes.volume_attributes_class,
        ("storage.k8s.io", "CSINode"): storage_classes.csi_node,
    }
    return builtin.get((res.group, res.kind), generic.generic)

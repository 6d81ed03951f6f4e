"""One describer per kind kubectl has a built-in layout for; `generic` for the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_scipian.read.describe import Describer
    from kubectl_scipian.read.discovery import Resource


def describer_for(res: Resource) -> Describer:
    from kubectl_scipian.read.describers import (
        common,
        generic,
        node,
        pod,
        service,
        storage,
        workloads,
    )

    builtin: dict[tuple[str, str], Describer] = {
        ("", "ConfigMap"): common.configmap,
        ("", "Namespace"): common.namespace,
        ("", "Secret"): common.secret,
        ("", "ServiceAccount"): common.service_account,
        ("", "Pod"): pod.pod,
        ("", "Service"): service.service,
        ("", "Endpoints"): service.endpoints,
        ("", "Node"): node.node,
        ("", "PersistentVolumeClaim"): storage.persistent_volume_claim,
        ("apps", "Deployment"): workloads.deployment,
        ("apps", "ReplicaSet"): workloads.replica_set,
        ("apps", "StatefulSet"): workloads.stateful_set,
        ("apps", "DaemonSet"): workloads.daemon_set,
        ("batch", "Job"): workloads.job,
        ("batch", "CronJob"): workloads.cron_job,
        ("networking.k8s.io", "Ingress"): service.ingress,
    }
    return builtin.get((res.group, res.kind), generic.generic)

"""`describe` through kubectl-scipian and through the real kubectl: same bytes, same exit code.

The first cases run against the objects of test_parity_get's namespace (its module fixture
makes them); the built-in describers run against this module's own namespace, `NS_D`, whose
objects have fixed names so that the output is the same run after run (only ages move).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import Parity, apply, b64
from tests.e2e.test_parity_get import NS
from tests.e2e.test_parity_get import parity as parity
from tests.helpers import wait_for

pytestmark = pytest.mark.stack
NS_D = "parity-describe"

CASES: list[tuple[str, ...]] = [
    ("cm", "alpha"),
    ("cm",),
    ("cm", "al"),
    ("cm", "alpha", "beta"),
    ("cm/alpha", "cm/beta"),
    ("cm", "-l", "team=b"),
    ("cm", "nope"),
    ("ns", NS),
    ("widget", "small"),
    ("widgets",),
    ("wdg", "l"),  # 404 then a search by prefix: kubectl warns twice
    ("wdg", "small"),
    ("wdg/small", "wdg/nope"),
    ("cm/alpha", "cm/nope"),  # two arguments and a 404: kubectl prints only the error
    ("widgets,wdg",),
    ("widgets", "-l", "size=s"),
    ("cm", "-l", "nope=1"),
    ("roles",),
    ("nodes",),
    ("foo",),
    ("secret", "creds"),
    (),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "<none>")
def test_describe(
    parity: Parity,
    args: tuple[str, ...],
) -> None:
    want, got = parity.compare("describe", "-n", NS, *args, record="describe")
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc


# --- the built-in describers, on this module's own objects -------------------------------------


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": NS_D, "labels": labels}


def _container(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": f"registry.local/{name}:2.1", **extra}


SA_NAME = "kubernetes.io/service-account.name"
LONG_NOTE = "a note that is long enough to be printed on a line of its own, " * 3

MULTI_SPEC: dict[str, Any] = {
    "serviceAccountName": "builder",
    "nodeSelector": {"type": "kwok"},
    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    "readinessGates": [{"conditionType": "example.com/gate"}],
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "slow", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
    ],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "multi"}},
        }
    ],
    "initContainers": [
        _container("setup", command=["sh", "-c"], args=["echo one\necho two"]),
        _container("proxy", restartPolicy="Always", ports=[{"containerPort": 15001}]),
    ],
    "containers": [
        _container(
            "app",
            ports=[
                {"containerPort": 8080, "name": "http"},
                {"containerPort": 9090, "name": "metrics", "protocol": "TCP"},
                {"containerPort": 5353, "protocol": "UDP", "hostPort": 5353},
            ],
            env=[
                {"name": "PLAIN", "value": "x"},
                {"name": "MULTI", "value": "first\nsecond"},
                {"name": "EMPTY"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {
                    "name": "CPU",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}},
                },
                {
                    "name": "PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                },
                {
                    "name": "MODE",
                    "valueFrom": {
                        "configMapKeyRef": {"name": "settings", "key": "mode", "optional": True}
                    },
                },
            ],
            envFrom=[
                {"configMapRef": {"name": "settings"}},
                {"secretRef": {"name": "db", "optional": True}, "prefix": "DB_"},
            ],
            resources={
                "limits": {"cpu": "500m", "memory": "256Mi"},
                "requests": {"cpu": "250m", "memory": "128Mi"},
            },
            livenessProbe={
                "httpGet": {"path": "/healthz", "port": 8080},
                "initialDelaySeconds": 3,
                "periodSeconds": 7,
            },
            readinessProbe={"tcpSocket": {"port": "http"}},
            startupProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "failureThreshold": 30},
            volumeMounts=[
                {"name": "data", "mountPath": "/data"},
                {"name": "settings", "mountPath": "/etc/settings", "readOnly": True},
                {"name": "scratch", "mountPath": "/tmp/cache", "subPath": "cache"},
            ],
        ),
        _container(
            "sidecar",
            command=["/bin/sidecar", "--verbose"],
            resources={"requests": {"cpu": "100m"}},
            readinessProbe={"grpc": {"port": 9000, "service": "health"}},
        ),
    ],
    "volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "store"}},
        {"name": "settings", "configMap": {"name": "settings", "optional": True}},
        {"name": "creds", "secret": {"secretName": "db"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "plain", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {
            "name": "podinfo",
            "downwardAPI": {
                "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {
                        "path": "cpu",
                        "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu"},
                    },
                ]
            },
        },
        {
            "name": "bundle",
            "projected": {
                "sources": [
                    {"secret": {"name": "db"}},
                    {"configMap": {"name": "settings", "optional": True}},
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                ]
            },
        },
    ],
}


def _objects() -> list[dict[str, Any]]:
    def pod(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**_meta(name), **meta},
            "spec": spec,
        }

    def template(app: str, **spec: Any) -> dict[str, Any]:
        return {
            "metadata": {"labels": {"app": app}},
            "spec": {"containers": [_container(app)], **spec},
        }

    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("builder")},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta("puller", team="infra"),
            "imagePullSecrets": [{"name": "registry-a"}, {"name": "registry-b"}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("settings"),
            "data": {"mode": "fast"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**_meta("db", app="multi"), "annotations": {"note": "sizes only"}},
            "type": "Opaque",
            "data": {"password": b64("hunter2"), "user": b64("admin"), "empty": ""},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta("tls"),
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": b64("-----BEGIN CERT-----\n"), "tls.key": b64("key")},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**_meta("builder-token"), "annotations": {SA_NAME: "builder"}},
            "type": "kubernetes.io/service-account-token",
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "parity-describe-store"},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                "hostPath": {"path": "/tmp/parity-describe"},
                "storageClassName": "manual",
                "claimRef": {"namespace": NS_D, "name": "store"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _meta("store", app="multi"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "volumeName": "parity-describe-store",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        pod(
            "multi",
            MULTI_SPEC,
            labels={"app": "multi", "tier": "back"},
            annotations={"note": LONG_NOTE, "lines": "one\ntwo", "short": "yes"},
        ),
        pod("pending", {"schedulerName": "nobody", "containers": [_container("main")]}),
        pod(
            "broken",
            {"restartPolicy": "Never", "containers": [_container("main")]},
            annotations={"stack.scipian.io/fail": "2"},
        ),
        pod(
            "guaranteed",
            {
                "containers": [
                    _container(
                        "main",
                        resources={
                            "limits": {"cpu": "1", "memory": "1Gi"},
                            "requests": {"cpu": "1", "memory": "1Gi"},
                        },
                    )
                ]
            },
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**_meta("api", app="api"), "annotations": {"owner": "team-a"}},
            "spec": {
                "replicas": 3,
                "minReadySeconds": 1,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "50%"},
                },
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {
                        "labels": {"app": "api"},
                        "annotations": {"prometheus.io/scrape": "true"},
                    },
                    "spec": {
                        "serviceAccountName": "builder",
                        "initContainers": [_container("migrate")],
                        "containers": [
                            _container("api", ports=[{"containerPort": 8080, "name": "http"}])
                        ],
                        "volumes": [{"name": "cache", "emptyDir": {}}],
                        "tolerations": [{"key": "spot", "operator": "Exists"}],
                        "nodeSelector": {"type": "kwok"},
                    },
                },
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("recreate", app="recreate"),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {
                    "matchLabels": {"app": "recreate"},
                    "matchExpressions": [
                        {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
                        {"key": "app", "operator": "Exists"},
                    ],
                },
                "template": template("recreate"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": _meta("solo", app="solo"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "solo"}},
                "template": template("solo"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("db", app="db"),
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": template("db"),
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta("vault", app="vault"),
            "spec": {
                "replicas": 0,
                "serviceName": "vault",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "selector": {"matchLabels": {"app": "vault"}},
                "template": template("vault"),
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data", "labels": {"tier": "storage"}},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "manual",
                            "resources": {"requests": {"storage": "5Gi"}},
                        },
                    },
                    {
                        "metadata": {"name": "logs"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    },
                ],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": _meta("agent", app="agent"),
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": template("agent", nodeSelector={"type": "kwok"}),
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("batch"),
            "spec": {
                "completions": 2,
                "parallelism": 1,
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 86400,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [_container("work")]}
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("indexed"),
            "spec": {
                "completions": 3,
                "parallelism": 3,
                "completionMode": "Indexed",
                "activeDeadlineSeconds": 600,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [_container("work")]}
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta("doomed"),
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"annotations": {"stack.scipian.io/fail": "1"}},
                    "spec": {"restartPolicy": "Never", "containers": [_container("work")]},
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": _meta("nightly", app="nightly"),
            "spec": {
                "schedule": "0 3 1 1 *",
                "timeZone": "Europe/Paris",
                "suspend": True,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 120,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "spec": {
                        "completions": 1,
                        "activeDeadlineSeconds": 300,
                        "template": {
                            "spec": {
                                "restartPolicy": "OnFailure",
                                "containers": [_container("report", args=["--full"])],
                            }
                        },
                    }
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": _meta("hourly"),
            "spec": {
                "schedule": "@yearly",
                "suspend": True,
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Never", "containers": [_container("tick")]}
                        }
                    }
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {**_meta("api", app="api"), "annotations": {"owner": "team-a"}},
            "spec": {
                "selector": {"app": "api"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http"},
                    {"name": "admin", "port": 8081, "targetPort": 9000, "appProtocol": "http"},
                ],
                "sessionAffinity": "ClientIP",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("edge"),
            "spec": {
                "type": "NodePort",
                "selector": {"app": "solo"},
                "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}],
                "externalTrafficPolicy": "Local",
                "externalIPs": ["192.0.2.10"],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("lb"),
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "nothing-matches"},
                "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
                "loadBalancerSourceRanges": ["10.0.0.0/8", "192.168.0.0/16"],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("outside"),
            "spec": {"type": "ExternalName", "externalName": "db.example.com"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("db"),
            "spec": {"clusterIP": "None", "selector": {"app": "db"}},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                **_meta("site"),
                "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
            },
            "spec": {
                "ingressClassName": "nginx",
                "defaultBackend": {"service": {"name": "api", "port": {"name": "http"}}},
                "tls": [
                    {"hosts": ["shop.example.com", "www.example.com"], "secretName": "tls"},
                    {"hosts": ["sni.example.com"]},
                ],
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "api", "port": {"number": 80}}},
                                },
                                {
                                    "path": "/admin",
                                    "pathType": "Exact",
                                    "backend": {
                                        "service": {"name": "api", "port": {"number": 8081}}
                                    },
                                },
                                {
                                    "path": "/gone",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "missing", "port": {"number": 80}}
                                    },
                                },
                            ]
                        },
                    },
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/static",
                                    "pathType": "ImplementationSpecific",
                                    "backend": {
                                        "resource": {
                                            "apiGroup": "k8s.example.com",
                                            "kind": "StorageBucket",
                                            "name": "assets",
                                        }
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _meta("bare"),
            "spec": {"defaultBackend": {"service": {"name": "edge", "port": {"number": 443}}}},
        },
    ]


# A role that lets the same view token read this namespace's Secrets (view cannot).
SECRET_READER: list[dict[str, Any]] = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "secret-reader", "namespace": NS_D},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "viewer-reads-secrets", "namespace": NS_D},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "secret-reader",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": "scipian-parity"}],
    },
]


# Nodes: view cannot read them; a ServiceAccount of this namespace gets view plus nodes and
# their leases, so that the get suite's viewer keeps its Forbidden answers.
NODE_READER: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("node-reader")},
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "parity-describe-nodes"},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]},
        ],
    },
    *(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"parity-describe-node-reader-{role}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "node-reader", "namespace": NS_D}],
        }
        for role in ("view", "parity-describe-nodes")
    ),
]


def _event(name: str, involved: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": NS_D},
        "involvedObject": involved,
        "source": {"component": "kubelet", "host": "kwok-node-0"},
        "type": "Normal",
        **fields,
    }


def _ago(**delta: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _events(stack: Stack) -> list[dict[str, Any]]:
    """Kubelet-like events KWOK does not emit: repeated ones, a field path, a warning."""

    def ref(kind: str, name: str, api: str = "v1", **extra: str) -> dict[str, Any]:
        uid = stack.kubectl(
            "dev", "get", kind, name, "-n", NS_D, "-o", "jsonpath={.metadata.uid}"
        ).stdout
        return {
            "kind": kind,
            "name": name,
            "namespace": NS_D,
            "uid": uid,
            "apiVersion": api,
            **extra,
        }

    multi = ref("Pod", "multi")
    return [
        _event(
            "multi.pulled",
            {**multi, "fieldPath": "spec.containers{app}"},
            reason="Pulled",
            message='Container image "registry.local/app:2.1" already present on machine\n',
            count=1,
            firstTimestamp=_ago(hours=2),
            lastTimestamp=_ago(hours=2),
        ),
        _event(
            "multi.backoff",
            {**multi, "fieldPath": "spec.containers{sidecar}"},
            type="Warning",
            reason="BackOff",
            message="Back-off restarting failed container sidecar",
            count=17,
            firstTimestamp=_ago(hours=1, minutes=30),
            lastTimestamp=_ago(minutes=3),
        ),
        _event(
            "multi.unhealthy",
            multi,
            type="Warning",
            reason="Unhealthy",
            message="Readiness probe failed: connection refused",
            count=4,
            firstTimestamp=_ago(minutes=50),
            lastTimestamp=_ago(minutes=20),
        ),
        _event(
            "builder.noted",
            ref("ServiceAccount", "builder"),
            reason="Noted",
            message="service account in use",
            count=2,
            firstTimestamp=_ago(days=3),
            lastTimestamp=_ago(days=1),
        ),
        _event(
            "store.resized",
            ref("PersistentVolumeClaim", "store"),
            reason="Resized",
            message="resize requested",
            count=1,
            firstTimestamp=_ago(minutes=90),
            lastTimestamp=_ago(minutes=90),
        ),
    ]


@pytest.fixture(scope="module")
def described(dev: Stack, parity: Parity) -> Parity:
    stack = dev
    admin, kubectl = stack.kubeconfig("dev"), stack.kubectl_path
    apply(admin, kubectl, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS_D}}])
    wait_for(
        "default ServiceAccount",
        lambda: (
            stack.kubectl("dev", "get", "sa", "default", "-n", NS_D, check=False).returncode == 0
        ),
    )
    exists = stack.kubectl("dev", "get", "deploy", "api", "-n", NS_D, check=False).returncode == 0
    # `api` keeps its second revision: applying the first again would roll it back and forth
    objects = [
        o
        for o in _objects()
        if not (exists and o["metadata"]["name"] == "api" and o["kind"] == "Deployment")
    ]
    apply(admin, kubectl, SECRET_READER + NODE_READER + objects)
    # a second revision of `api`: an old ReplicaSet scaled to zero beside the new one
    patch = {"spec": {"template": {"spec": {"containers": [_container("api", image="api:2")]}}}}
    if not exists:
        stack.kubectl(
            "dev", "patch", "deploy", "api", "-n", NS_D, "--type=strategic", "-p", json.dumps(patch)
        )
    for what in ("deploy/api", "deploy/recreate", "sts/db", "ds/agent"):
        stack.kubectl("dev", "rollout", "status", what, "-n", NS_D, "--timeout=90s")
    for job in ("batch", "indexed"):
        stack.kubectl(
            "dev", "wait", "--for=condition=complete", f"job/{job}", "-n", NS_D, "--timeout=90s"
        )
    stack.kubectl(
        "dev", "wait", "--for=condition=failed", "job/doomed", "-n", NS_D, "--timeout=90s"
    )
    stack.kubectl(
        "dev",
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/store",
        "-n",
        NS_D,
        "--timeout=90s",
    )

    def settled() -> bool:
        pods = json.loads(stack.kubectl("dev", "get", "pods", "-n", NS_D, "-o", "json").stdout)
        phases = {p["metadata"]["name"]: p["status"].get("phase") for p in pods["items"]}
        scheduled = [n for n in phases if n != "pending"]
        return phases.get("broken") == "Failed" and all(
            phases[n] in ("Running", "Succeeded", "Failed") for n in scheduled
        )

    wait_for("pods settled", settled)

    def endpoints_ready() -> bool:
        out = stack.kubectl(
            "dev",
            "get",
            "endpointslices",
            "-n",
            NS_D,
            "-l",
            "kubernetes.io/service-name=api",
            "-o",
            "jsonpath={.items[*].endpoints[*].addresses[0]}",
        ).stdout
        return len(out.split()) == 3

    wait_for("endpoints of api", endpoints_ready)
    wait_for(
        "the legacy token",
        lambda: bool(
            stack.kubectl(
                "dev", "get", "secret", "builder-token", "-n", NS_D, "-o", "jsonpath={.data.token}"
            ).stdout
        ),
    )
    existing = stack.kubectl("dev", "get", "events", "-n", NS_D, "-o", "name").stdout
    if "multi.pulled" not in existing:
        apply(admin, kubectl, _events(stack))
    return parity


DESCRIBE_CASES: list[tuple[str, ...]] = [
    # Pod
    ("pod", "multi"),
    ("pod", "pending"),
    ("pod", "broken"),
    ("pod", "guaranteed"),
    ("pods", "-l", "batch.kubernetes.io/job-name=batch"),
    ("pods", "-l", "app=solo"),
    ("pod/multi", "pod/pending"),
    ("pod", "multi", "--show-events=false"),
    ("pod", "mul"),
    ("pods", "-l", "app=db"),
    # Deployment, ReplicaSet
    ("deploy", "api"),
    ("deployment", "recreate"),
    ("rs", "-l", "app=api"),
    ("rs", "solo"),
    # Service, Ingress
    ("svc", "api"),
    ("svc", "edge"),
    ("svc", "lb"),
    ("svc", "outside"),
    ("svc", "db"),
    ("ingress", "site"),
    ("ing", "bare"),
    # Secret, ServiceAccount, PersistentVolumeClaim
    ("secret", "db"),
    ("secrets", "tls"),
    ("sa", "puller"),
    ("sa", "builder"),
    ("pvc", "store"),
    # Job, CronJob
    ("job", "batch"),
    ("job", "indexed"),
    ("job", "doomed"),
    ("cronjob", "nightly"),
    ("cj", "hourly"),
    # StatefulSet, DaemonSet
    ("sts", "db"),
    ("statefulset", "vault"),
    ("ds", "agent"),
    # several kinds at once (no events), and a kind beside a missing name
    ("deploy,sts,ds",),
    ("svc", "api", "nope"),
]


@pytest.mark.parametrize("args", DESCRIBE_CASES, ids=lambda a: " ".join(a))
def test_describe_builtin(described: Parity, args: tuple[str, ...]) -> None:
    want, got = described.compare("describe", "-n", NS_D, *args, record="describe")
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc


def test_describe_secret_never_prints_a_token(described: Parity) -> None:
    """The one deliberate difference: kubectl prints a legacy ServiceAccount token in clear."""
    want, got = described.compare("describe", "-n", NS_D, "secret", "builder-token")
    assert (got.rc, got.err) == (want.rc, want.err) == (0, "")
    token = next(line for line in want.out.splitlines() if line.startswith("token:"))
    value = token.split(":", 1)[1].strip()
    assert len(value) > 100  # what kubectl shows: the token itself
    assert value not in got.out
    sized = token.replace(value, f"{len(value)} bytes")
    assert got.out.splitlines() == [
        sized if line == token else line for line in want.out.splitlines()
    ]


# A node of this module's own: a taint keeps every other pod off it (the stack's shared
# nodes carry other suites' and other people's pods), one pod of ours tolerates it.
NODE = "parity-describe-node"
TAINT = {"key": "scipian.io/parity-describe", "value": "only", "effect": "NoSchedule"}


def _own_node() -> list[dict[str, Any]]:
    from tests.stack.clusters import node_manifest

    node: dict[str, Any] = node_manifest(NODE)
    node["spec"] = {"taints": [TAINT]}
    pinned = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("pinned", app="pinned"),
        "spec": {
            "nodeName": NODE,
            "tolerations": [{**TAINT, "operator": "Equal"}],
            "containers": [
                _container("app", resources={"requests": {"cpu": "250m", "memory": "64Mi"}})
            ],
        },
    }
    return [node, pinned]


@pytest.fixture(scope="module")
def node_reader(dev: Stack, described: Parity, tmp_path_factory: pytest.TempPathFactory) -> Parity:
    apply(dev.kubeconfig("dev"), dev.kubectl_path, _own_node())
    dev.kubectl("dev", "wait", "--for=condition=Ready", f"node/{NODE}", "--timeout=90s")
    dev.kubectl(
        "dev",
        "wait",
        "--for=jsonpath={.status.phase}=Running",
        "pod/pinned",
        "-n",
        NS_D,
        "--timeout=90s",
    )
    token = dev.kubectl("dev", "create", "token", "node-reader", "-n", NS_D, "--duration=2h").stdout
    config = json.loads(described.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = token.strip()
    path = tmp_path_factory.mktemp("parity-describe") / "nodes.kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return Parity(described.kubectl, path, path.parent / "cache")


NODE_CASES: list[tuple[str, ...]] = [
    ("node", NODE),
    ("nodes", NODE),
    ("node", "nope"),
]


@pytest.mark.parametrize("args", NODE_CASES, ids=lambda a: " ".join(a))
def test_describe_node(node_reader: Parity, args: tuple[str, ...]) -> None:
    """Our own node: its pods are ours alone; KWOK's heartbeats may move between the runs."""
    for _ in range(3):
        want, got = node_reader.compare("describe", *args, record="describe")
        if got == want:
            break
        subprocess.run(["sleep", "1"], check=False)
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc

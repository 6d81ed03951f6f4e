"""Seeds the demo workload on the dev and prod clusters (idempotent).

`web` (a 2-replica Deployment) in namespace `shop` on dev, with log lines,
`web` (1 replica) on staging and `api` on prod. Prints the name of the dev
pod that has logs.
"""

from __future__ import annotations

import json
import sys
import time

from tests.stack import clusters
from tests.stack.podlogs import give_logs

NAMESPACE = "shop"


def seed(cluster: str, app: str, replicas: int) -> str:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    clusters.kubectl_run(cluster, "apply", "-f", "-", input=json.dumps(ns))
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": NAMESPACE, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1.0"}]},
            },
        },
    }
    clusters.kubectl_run(cluster, "apply", "-f", "-", input=json.dumps(deploy))
    deadline = time.monotonic() + 120
    while True:
        out = clusters.kubectl_run(
            cluster, "get", "pods", "-n", NAMESPACE, "-l", f"app={app}", "-o", "json"
        )
        pods = [
            p
            for p in json.loads(out.stdout)["items"]
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        if len(pods) >= replicas:
            return str(sorted(p["metadata"]["name"] for p in pods)[0])
        if time.monotonic() > deadline:
            raise TimeoutError(f"{cluster}: {app} pods not running")
        time.sleep(0.5)


def main() -> int:
    pod = seed("dev", "web", 2)
    give_logs(
        clusters.admin_kubeconfig("dev"),
        NAMESPACE,
        pod,
        {"web": ["listening on :8080", "GET /healthz 200", "GET /cart 200"]},
    )
    seed("staging", "web", 1)
    seed("prod", "api", 1)
    print(pod)
    return 0


if __name__ == "__main__":
    sys.exit(main())

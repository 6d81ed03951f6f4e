"""Seeds the demo workload on the dev and prod clusters (idempotent).

`web` (a 2-replica Deployment) in namespace `shop` on dev, with log lines,
`web` (1 replica) on staging and `api` on prod. Prints the name of the dev
pod that has logs.

`python -m tests.stack.demo step-up USER ENV REASON`: asks the plugin for a deploy
credential as kubectl would with a terminal (KUBERNETES_EXEC_INFO interactive), and
approves the step-up login it starts at the provider's pages as USER. Prints the plugin's
prompts (stderr), never the credential (stdout).

`python -m tests.stack.demo until-refused KUBECONFIG NAMESPACE DEPLOYMENT`: reads the
Deployment with that kubeconfig (a credential under an access request that was just
revoked) every half second until the cluster refuses it; prints kubectl's refusal and how
long it took (at most REFUSED_WITHIN seconds, else exit 1).
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


def step_up(user: str, env_id: str, reason: str) -> int:
    import os

    from tests.stack import envfile
    from tests.stack.login import plugin_env, run_approving

    stack_env = envfile.read()
    exec_info = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": True},
    }
    env = plugin_env(stack_env, KUBERNETES_EXEC_INFO=json.dumps(exec_info))
    if os.environ.get("KUBECTL_SCIPIAN_CONFIG_DIR"):
        env["KUBECTL_SCIPIAN_CONFIG_DIR"] = os.environ["KUBECTL_SCIPIAN_CONFIG_DIR"]
    args = [env_id, "credential", "--level", "deploy", "--reason", reason]
    done = run_approving(args, user, stack_env["STACK_PASSWORD"], env)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        print(f"(approved at the provider's pages as {user}; credential cached)", file=sys.stderr)
    return done.returncode


REFUSED_WITHIN = 30.0  # the demo's bound: the backend deletes the sessions before answering


def until_refused(kubeconfig: str, namespace: str, deployment: str) -> int:
    import subprocess

    from tests.stack.paths import kubectl

    start = time.monotonic()
    argv = [str(kubectl()), f"--kubeconfig={kubeconfig}", "-n", namespace]
    while True:
        done = subprocess.run(
            [*argv, "get", "deployment", deployment, "-o", "name"],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - start
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            print(f"(refused {took:.1f} s after the revoke answered)", file=sys.stderr)
            return 0
        if took > REFUSED_WITHIN:
            print(f"demo: still accepted after {took:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.5)


def main() -> int:
    if sys.argv[1:2] == ["step-up"] and len(sys.argv) == 5:
        return step_up(*sys.argv[2:5])
    if sys.argv[1:2] == ["until-refused"] and len(sys.argv) == 5:
        return until_refused(*sys.argv[2:5])
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

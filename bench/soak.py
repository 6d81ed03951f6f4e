"""`make soak`: 32 clients issue kubeconfigs for 60 s against two backend replicas, one of
them killed and restarted midway. Reports requests, failures after the client's retries,
retries used, and latency percentiles; exit 1 on any failed request.

Runs on the local stack (started if needed) with processes of its own: an OIDC provider
instance with one numbered user (user099, granted `dev` here and revoked at the end, so
the thousands of session Secrets it makes are deleted) and two backend replicas with the
rate limit off (this measures availability; tests/e2e/test_ratelimit.py covers 429).

The client's retry policy, as a deployment's would be: on a connection error, a 5xx or a
429, try the next replica, up to 5 attempts with 0.1 s x attempt between them.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.issue_load import percentile
from tests.stack import backend_daemon
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.idp_process import start_idp
from tests.stack.stack import env_or_up

CLIENT_ID = "kubectl-scipian"
USER = "user099"
ATTEMPTS = 5


class Replicas:
    """The replica URLs clients rotate over; one slot can be swapped while they run."""

    def __init__(self, procs: list[backend_daemon.BackendProcess]) -> None:
        self.procs = procs
        self.lock = threading.Lock()

    def url(self, i: int) -> str:
        with self.lock:
            return self.procs[i % len(self.procs)].url


def grant(kubectl: list[str], name: str, user: str, apply: bool) -> None:
    import subprocess

    if not apply:
        subprocess.run([*kubectl, "delete", "clusterrolebinding,clusterrole", name,
                        "--ignore-not-found"], capture_output=True, check=False)  # fmt: skip
        return
    rule = {"apiGroups": ["scipian.io"], "resources": ["environments/kubeconfig"],
            "verbs": ["get"], "resourceNames": ["dev"]}  # fmt: skip
    doc = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name}, "rules": [rule]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
    ]}  # fmt: skip
    subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(doc), text=True,
                   capture_output=True, check=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run([*kubectl, "auth", "can-i", "get", "environments.scipian.io/dev",
                              "--subresource=kubeconfig", f"--as={user}"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        if out.stdout.strip() == "yes":
            return
        time.sleep(0.2)
    raise TimeoutError("the soak user's grant did not reach the authorizer")


def soak(
    clients: int, seconds: float, replicas: Replicas, token: str, restart: Any
) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    retries = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        nonlocal retries
        with requests.Session() as s:
            s.trust_env = False
            s.headers["Authorization"] = f"Bearer {token}"
            i = n
            while time.monotonic() < stop:
                started = time.perf_counter()
                why = ""
                for attempt in range(ATTEMPTS):
                    url = replicas.url(i) + "/api/v1/environments/dev/kubeconfig"
                    i += 1
                    try:
                        r = s.post(url, json={}, timeout=30)
                        if r.status_code == 200 and "kubeconfig" in r.json():
                            why = ""
                            break
                        why = f"HTTP {r.status_code}"
                    except requests.RequestException as e:
                        why = type(e).__name__
                    with lock:
                        retries += 1
                    time.sleep(0.1 * (attempt + 1))
                elapsed = time.perf_counter() - started
                with lock:
                    if why:
                        failures.append(why)
                    else:
                        latencies.append(elapsed)

    threading.Timer(seconds / 2, restart).start()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client, n) for n in range(clients)]:
            f.result()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(failures),
        "ok": len(latencies),
        "failed": len(failures),
        "failures": sorted(set(failures)),
        "retries": retries,
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--out", default="bench/results/soak.json")
    args = p.parse_args()
    env, _ = env_or_up()
    kubectl = [env["STACK_KUBECTL"], f"--kubeconfig={env['STACK_MGMT_KUBECONFIG']}"]
    work = Path(tempfile.mkdtemp(prefix="scipian-soak-"))
    idp = start_idp(work / "idp", secrets.token_urlsafe(12), extra_users=99)
    role = f"soak-{uuid.uuid4().hex[:8]}"
    user = f"oidc:{USER}@example.test"
    procs: list[backend_daemon.BackendProcess] = []
    try:
        grant(kubectl, role, user, apply=True)
        token = str(authcode_flow_tokens(idp.issuer, CLIENT_ID, USER, idp.password)["id_token"])
        extra = ["--rate-limit=0"]
        procs = [backend_daemon.spawn_backend(idp.issuer, CLIENT_ID, extra, name=f"soak{i}")
                 for i in (1, 2)]  # fmt: skip
        replicas = Replicas(procs)
        events: list[str] = []

        def restart() -> None:
            victim = replicas.procs[0]
            victim.kill()
            events.append(f"killed replica 1 at {args.seconds / 2:.0f}s")
            fresh = backend_daemon.spawn_backend(idp.issuer, CLIENT_ID, extra, name="soak1b")
            with replicas.lock:
                replicas.procs[0] = fresh
            procs.append(fresh)
            events.append("replica 1 back (new process)")

        result = soak(args.clients, args.seconds, replicas, token, restart)
        result["events"] = events
    finally:
        for b in procs:
            b.stop()
        import subprocess

        subprocess.run(
            [sys.executable, "-m", "scipian_backend",
             f"--mgmt-kubeconfig={env['STACK_MGMT_KUBECONFIG']}",
             "revoke", "--env=dev", f"--user={USER}@example.test"],
            capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        grant(kubectl, role, user, apply=False)
        idp.stop()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Backend issuance under load, and the floor: the apiserver calls it must make."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from kubernetes import client, config


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def load(
    backend: str, id_token: str, env_id: str, concurrency: int, per_client: int
) -> dict[str, Any]:
    """`concurrency` clients, each issuing `per_client` kubeconfigs back to back."""
    url = f"{backend}/api/v1/environments/{env_id}/kubeconfig"
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client_loop() -> None:
        nonlocal errors
        with requests.Session() as s:
            s.trust_env = False
            s.headers["Authorization"] = f"Bearer {id_token}"
            for _ in range(per_client):
                t = time.perf_counter()
                try:
                    ok = s.post(url, json={}, timeout=60).status_code == 200
                except requests.RequestException:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(client_loop) for _ in range(concurrency)]:
            f.result()
    elapsed = time.perf_counter() - started
    return {
        "clients": concurrency,
        "requests": concurrency * per_client,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "errors": errors,
    }


def floor(mgmt_kubeconfig: Path, dev_kubeconfig: Path, runs: int = 30) -> dict[str, float]:
    """p50 of the calls every issuance needs, made directly over keep-alive connections:
    a SubjectAccessReview on mgmt, and on the target a session Secret and a TokenRequest
    bound to it."""
    mgmt = config.new_client_from_config(config_file=str(mgmt_kubeconfig))
    dev = config.new_client_from_config(config_file=str(dev_kubeconfig))
    authz = client.AuthorizationV1Api(mgmt)
    core = client.CoreV1Api(dev)
    ns = "bench-floor"
    try:
        core.create_namespace({"metadata": {"name": ns}})
    except client.ApiException as e:
        if e.status != 409:
            raise
    try:
        core.create_namespaced_service_account(ns, {"metadata": {"name": "floor"}})
    except client.ApiException as e:
        if e.status != 409:
            raise
    sar_body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "oidc:alice@example.test",
            "groups": ["oidc:team-a"],
            "resourceAttributes": {
                "group": "scipian.io",
                "resource": "environments",
                "subresource": "kubeconfig",
                "verb": "get",
                "name": "dev",
            },
        },
    }
    sar, secret, token = [], [], []
    for i in range(runs):
        t = time.perf_counter()
        authz.create_subject_access_review(sar_body)
        sar.append(time.perf_counter() - t)
        t = time.perf_counter()
        s = core.create_namespaced_secret(ns, {"metadata": {"generateName": "floor-"}})
        secret.append(time.perf_counter() - t)
        t = time.perf_counter()
        core.create_namespaced_service_account_token(
            "floor",
            ns,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(
                    audiences=[],
                    expiration_seconds=600,
                    bound_object_ref=client.V1BoundObjectReference(
                        api_version="v1", kind="Secret", name=s.metadata.name, uid=s.metadata.uid
                    ),
                )
            ),
        )
        token.append(time.perf_counter() - t)
        if i % 10 == 9:
            core.delete_collection_namespaced_secret(ns)
    core.delete_collection_namespaced_secret(ns)
    parts = {
        "subjectaccessreview_ms": statistics.median(sar) * 1000,
        "session_secret_ms": statistics.median(secret) * 1000,
        "tokenrequest_ms": statistics.median(token) * 1000,
    }
    return {k: round(v, 2) for k, v in parts.items()}

"""Backend issuance under load, and the floor: the apiserver calls it must make."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
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
    latencies, errors, elapsed = _run(backend, id_token, env_id, concurrency, per_client)
    return _summary(concurrency, latencies, errors, elapsed)


def _summary(
    concurrency: int, latencies: list[float], errors: int, elapsed: float
) -> dict[str, Any]:
    return {
        "clients": concurrency,
        "requests": len(latencies) + errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
        "errors": errors,
    }


def _run(
    backend: str, id_token: str, env_id: str, concurrency: int, per_client: int
) -> tuple[list[float], int, float]:
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
    return latencies, errors, time.perf_counter() - started


def one_client_beside_floor(
    backend: str,
    id_token: str,
    env_id: str,
    mgmt_kubeconfig: Path,
    dev_kubeconfig: Path,
    rounds: int = 4,
    per_round: int = 15,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One client's issuances and the floor's calls, in alternating rounds: a machine that
    is busier for a while (this one also runs the clusters) weighs on both sides alike,
    as `measure.alternate` does for the CLI. Returns (c1 entry, floor parts)."""
    latencies: list[float] = []
    errors = 0
    elapsed = 0.0
    calls: dict[str, list[float]] = {}
    floor_calls = _FloorCalls(mgmt_kubeconfig, dev_kubeconfig)
    try:
        for _ in range(rounds):
            for name, samples in floor_calls.sample(per_round).items():
                calls.setdefault(name, []).extend(samples)
            lat, err, took = _run(backend, id_token, env_id, 1, per_round)
            latencies += lat
            errors += err
            elapsed += took
    finally:
        floor_calls.clean()
    parts = {k: round(statistics.median(v) * 1000, 2) for k, v in calls.items()}
    return _summary(1, latencies, errors, elapsed), parts


# What the backend asks mgmt on each issuance (for alice, who may use dev).
SAR_BODY = {
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


class _FloorCalls:
    """The calls every issuance needs, made directly over keep-alive connections: a
    SubjectAccessReview on mgmt, and on the target a session Secret and a TokenRequest
    bound to it."""

    NAMESPACE = "bench-floor"

    def __init__(self, mgmt_kubeconfig: Path, dev_kubeconfig: Path) -> None:
        mgmt = config.new_client_from_config(config_file=str(mgmt_kubeconfig))
        dev = config.new_client_from_config(config_file=str(dev_kubeconfig))
        self.authz = client.AuthorizationV1Api(mgmt)
        self.core = client.CoreV1Api(dev)
        ns = {"metadata": {"name": self.NAMESPACE}}
        sa = {"metadata": {"name": "floor"}}
        _exists_ok(lambda: self.core.create_namespace(ns))
        _exists_ok(lambda: self.core.create_namespaced_service_account(self.NAMESPACE, sa))

    def sample(self, runs: int) -> dict[str, list[float]]:
        sar, secret, token = [], [], []
        ns = self.NAMESPACE
        for _ in range(runs):
            t = time.perf_counter()
            self.authz.create_subject_access_review(SAR_BODY)
            sar.append(time.perf_counter() - t)
            t = time.perf_counter()
            s = self.core.create_namespaced_secret(ns, {"metadata": {"generateName": "floor-"}})
            secret.append(time.perf_counter() - t)
            t = time.perf_counter()
            self.core.create_namespaced_service_account_token(
                "floor",
                ns,
                client.AuthenticationV1TokenRequest(
                    spec=client.V1TokenRequestSpec(
                        audiences=[],
                        expiration_seconds=600,
                        bound_object_ref=client.V1BoundObjectReference(
                            api_version="v1",
                            kind="Secret",
                            name=s.metadata.name,
                            uid=s.metadata.uid,
                        ),
                    )
                ),
            )
            token.append(time.perf_counter() - t)
        self.clean()
        return {
            "subjectaccessreview_ms": sar,
            "session_secret_ms": secret,
            "tokenrequest_ms": token,
        }

    def clean(self) -> None:
        self.core.delete_collection_namespaced_secret(self.NAMESPACE)


def _exists_ok(create: Callable[[], object]) -> None:
    try:
        create()
    except client.ApiException as e:
        if e.status != 409:
            raise

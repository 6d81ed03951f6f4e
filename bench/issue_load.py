"""Backend issuance under load, and the floor: the apiserver calls it must make."""

from __future__ import annotations

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client

# The clients are the standard library's http.client, each on one kept-alive connection:
# what a client spends on a call is its own time, not the backend's, and this is the least
# a Python client adds (an empty answer takes 0.5 ms here with it, 0.9 ms with requests).
BODY = b"{}"


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
    path = _path(env_id)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client_loop() -> None:
        nonlocal errors
        conn = _connection(backend)
        headers = _headers(id_token)
        try:
            for _ in range(per_client):
                ok, dt = _timed_issue(conn, path, headers)
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors += 1
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(client_loop) for _ in range(concurrency)]:
            f.result()
    return latencies, errors, time.perf_counter() - started


def _path(env_id: str) -> str:
    return f"/api/v1/environments/{env_id}/kubeconfig"


def _headers(id_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {id_token}", "Content-Type": "application/json"}


def _connection(backend: str) -> HTTPConnection:
    """A kept-alive connection to the backend (http://host:port, as the bench runs it)."""
    url = urlsplit(backend)
    if url.scheme != "http" or url.hostname is None:
        raise ValueError(f"bench backend must be plain http://host:port, not {backend}")
    return HTTPConnection(url.hostname, url.port or 80, timeout=60)


def _timed_issue(conn: HTTPConnection, path: str, headers: dict[str, str]) -> tuple[bool, float]:
    """One read issuance: (answered 200, seconds). A broken connection counts as an error,
    and the next request opens a new one."""
    t = time.perf_counter()
    try:
        ok = _post(conn, path, BODY, headers) == 200
    except (OSError, HTTPException):
        conn.close()
        ok = False
    return ok, time.perf_counter() - t


def _post(conn: HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def one_client_beside_floor(
    backend: str,
    id_token: str,
    env_id: str,
    mgmt_kubeconfig: Path,
    rounds: int = 10,
    per_round: int = 15,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One client's issuances and the floor's calls, alternating one by one: a machine that
    is busier for a moment (this one also runs the clusters) weighs on both sides alike,
    as `measure.alternate` does for the CLI. The floor's Secrets are deleted after each
    round, outside the timings. Returns (c1 entry, floor parts)."""
    latencies: list[float] = []
    errors = 0
    elapsed = 0.0
    calls: dict[str, list[float]] = {}
    _run(backend, id_token, env_id, 1, 1)  # ensures the ServiceAccount the floor's tokens use
    floor_calls = _FloorCalls(mgmt_kubeconfig, env_id)
    conn = _connection(backend)
    path = _path(env_id)
    headers = _headers(id_token)
    try:
        for _ in range(rounds):
            for _ in range(per_round):
                for name, samples in floor_calls.sample(1).items():
                    calls.setdefault(name, []).extend(samples)
                ok, dt = _timed_issue(conn, path, headers)
                elapsed += dt
                if ok:
                    latencies.append(dt)
                else:
                    errors += 1
            floor_calls.clean()
    finally:
        conn.close()
        floor_calls.clean()
    parts = {k: round(statistics.median(v) * 1000, 2) for k, v in calls.items()}
    return _summary(1, latencies, errors, elapsed), parts


class _FloorCalls:
    """The apiserver calls every issuance makes, made directly, one after the other, by
    the backend's own code with the backend's own identities: its SubjectAccessReview on
    mgmt (its least-privilege ServiceAccount), and on the target, with the broker
    credential it holds, the session Secret and the TokenRequest bound to it. What an
    issuance costs beyond these is the backend's (HTTP, id_token check, audit, threads)."""

    USER = "oidc:alice@example.test"

    def __init__(self, mgmt_kubeconfig: Path, env_id: str) -> None:
        from scipian_backend import kube
        from scipian_backend.environments.store import Store
        from scipian_backend.identity.authn import Identity
        from scipian_backend.identity.authz import Authorizer
        from scipian_backend.minting.minter import Minter, TargetClients

        mgmt = kube.mgmt_client(str(mgmt_kubeconfig))
        store = Store(mgmt, 10.0)
        env = store.get(env_id)
        if env is None:
            raise RuntimeError(f"no Environment {env_id} on mgmt")
        self.env = env
        self.env_id = env_id
        self.who = Identity(self.USER, ("oidc:team-a",), "floor")
        self.authz = Authorizer(mgmt)
        self.minter = Minter(TargetClients(store), "scipian-sessions")
        self.core = client.CoreV1Api(self.minter.target(env).api)
        self.created: list[str] = []

    def sample(self, runs: int) -> dict[str, list[float]]:
        from scipian_backend.identity import names

        sar, secret, token = [], [], []
        m = self.minter
        for _ in range(runs):
            t = time.perf_counter()
            assert self.authz.may_get_kubeconfig(self.who, self.env_id)
            sar.append(time.perf_counter() - t)
            t = time.perf_counter()
            key = names.IdentityKey(self.env_id, "read", self.USER)
            s = m._session_secret(self.core, key, self.env.ttl_seconds)
            secret.append(time.perf_counter() - t)
            name, uid = s["metadata"]["name"], s["metadata"]["uid"]
            self.created.append(name)
            t = time.perf_counter()
            m._token(self.core, key.account, name, uid, self.env.ttl_seconds)
            token.append(time.perf_counter() - t)
        return {
            "subjectaccessreview_ms": sar,
            "session_secret_ms": secret,
            "tokenrequest_ms": token,
        }

    def clean(self) -> None:
        for name in self.created:
            self.minter._delete_quietly(self.core, name)
        self.created.clear()


def deploy_beside_read(
    backend: str, id_token: str, env_id: str, runs: int, reason: str = "bench deploy_issue"
) -> dict[str, Any]:
    """p50 of a deploy-level issuance beside a read one: one client, the two alternating
    (so both see the same machine), after one warm-up of each (the deploy ServiceAccount
    and its RoleBindings are then ensured, as they are for a returning user)."""
    path = _path(env_id)
    bodies = {
        "read": BODY,
        "deploy": json.dumps({"level": "deploy", "justification": reason}).encode(),
    }
    times: dict[str, list[float]] = {"read": [], "deploy": []}
    headers = _headers(id_token)

    def post(body: bytes) -> None:
        status = _post(conn, path, body, headers)
        if status != 200:
            raise RuntimeError(f"issuance answered HTTP {status}")

    conn = _connection(backend)
    try:
        for body in bodies.values():
            post(body)
        for _ in range(runs):
            for level, body in bodies.items():
                t = time.perf_counter()
                post(body)
                times[level].append(time.perf_counter() - t)
    finally:
        conn.close()
    read = percentile(times["read"], 50) * 1000
    deploy = percentile(times["deploy"], 50) * 1000
    return {
        "runs": runs,
        "read_p50_ms": round(read, 1),
        "deploy_p50_ms": round(deploy, 1),
        "ratio": round(deploy / read, 2),
    }

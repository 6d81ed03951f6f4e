"""Benchmark fixtures on the dev cluster, made once and reused across runs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.stack.podlogs import give_logs

PREFIX = "2026-11-24T10:00:00.000000000Z stdout F "


def admin_api(kubeconfig: Path) -> client.CoreV1Api:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    api_client.configuration.connection_pool_maxsize = 32
    return client.CoreV1Api(api_client)


def ensure_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.read_namespace(name)
    except client.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespace({"metadata": {"name": name}})


def pod_body(name: str, node: str) -> dict[str, Any]:
    # nodeName set directly: the bench measures reads, not the scheduler.
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.example/b:1"}]},
    }


def ensure_pods(core: client.CoreV1Api, namespace: str, count: int) -> None:
    ensure_namespace(core, namespace)
    have = {
        p.metadata.name for p in core.list_namespaced_pod(namespace, _request_timeout=120).items
    }
    missing = [f"pod-{i:05d}" for i in range(count) if f"pod-{i:05d}" not in have]

    def create(name: str) -> None:
        node = f"kwok-node-{int(name[-5:]) % 2}"
        try:
            core.create_namespaced_pod(namespace, pod_body(name, node))
        except client.ApiException as e:
            if e.status != 409:
                raise

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, missing))


def ensure_big_log(
    kubeconfig: Path, core: client.CoreV1Api, namespace: str, pod: str, size: int, workdir: Path
) -> int:
    """A pod whose container log is `size` bytes of output; returns the exact byte count."""
    ensure_namespace(core, namespace)
    try:
        core.read_namespaced_pod(pod, namespace)
    except client.ApiException as e:
        if e.status != 404:
            raise
        body = pod_body(pod, "kwok-node-0")
        core.create_namespaced_pod(namespace, body)
    files = give_logs(kubeconfig, namespace, pod, {"c": ["start"]}, logs_dir=workdir)
    path = files["c"]
    line = "x" * 90 + " {:09d}"
    payload = 0
    with open(path, "w", encoding="ascii") as f:
        chunk: list[str] = []
        i = 0
        while payload < size:
            text = line.format(i)
            chunk.append(PREFIX + text + "\n")
            payload += len(text) + 1
            i += 1
            if len(chunk) == 10_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return payload


def dump(obj: object) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)

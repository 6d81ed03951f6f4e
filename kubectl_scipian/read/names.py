"""Object names and namespaces for shell completion (`kdev get pods <TAB>`, `-n <TAB>`).

Only with a cached, unexpired kubeconfig: completion never prompts, never logs in and
never asks the backend for a credential. One deadline (TIMEOUT) covers every request;
any failure is an empty answer, never a message (a completion prints nothing but
candidates). Requests carry `Accept: PartialObjectMetadataList`: names are all we need.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TIMEOUT = 2.0
METADATA = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"


class _Cluster:
    """GETs with the cached kubeconfig's token, each bounded by what is left of the deadline."""

    def __init__(self, kubeconfig: Mapping[str, Any], cache_dir: Path, timeout: float) -> None:
        from kubectl_scipian.read.target import ca_path, target_from_kubeconfig

        self.target = target_from_kubeconfig(kubeconfig)
        self.deadline = time.monotonic() + timeout
        ca = ca_path(self.target, cache_dir)
        self.verify: bool | str = ca if ca is not None else not self.target.insecure
        self.headers = {"User-Agent": "kubectl-scipian"}
        if self.target.token:
            self.headers["Authorization"] = f"Bearer {self.target.token}"

    def get(self, path: str, accept: str) -> Any:
        import requests

        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("completion deadline")
        response = requests.get(
            self.target.server + path,
            headers={**self.headers, "Accept": accept},
            timeout=left,
            verify=self.verify,
        )
        response.raise_for_status()
        return response.json()


def object_names(
    kubeconfig: Mapping[str, Any],
    cache_dir: Path,
    type_arg: str,
    namespace: str | None,
    timeout: float = TIMEOUT,
) -> list[str]:
    """Names of the objects of `type_arg` (as `get` resolves it) in `namespace` (None: the
    kubeconfig's); [] on any trouble."""
    try:
        from kubectl_scipian.read.discovery import DiscoveryCache, Resolver

        cluster = _Cluster(kubeconfig, cache_dir, timeout)
        resolver = Resolver(DiscoveryCache(cache_dir, cluster.target.host_port), cluster.get)
        resources = [r for r in resolver.resolve(type_arg) if "list" in r.verbs]
        if len(resources) != 1:
            return []  # a category (`all`) or several kinds: names alone would be ambiguous
        resource = resources[0]
        path = resource.path(namespace or cluster.target.namespace)
        return _names(cluster.get(path, METADATA))
    except Exception:  # any failure: no candidates, and no words about it
        return []


def namespaces(
    kubeconfig: Mapping[str, Any], cache_dir: Path, timeout: float = TIMEOUT
) -> list[str]:
    try:
        cluster = _Cluster(kubeconfig, cache_dir, timeout)
        return _names(cluster.get("/api/v1/namespaces", METADATA))
    except Exception:  # any failure: no candidates, and no words about it
        return []


def _names(doc: Any) -> list[str]:
    items = doc.get("items") if isinstance(doc, dict) else None
    names = {
        str((i.get("metadata") or {}).get("name"))
        for i in items or []
        if isinstance(i, dict) and (i.get("metadata") or {}).get("name")
    }
    return sorted(names)

"""Where a read goes and as whom: server, CA and token of the cached kubeconfig's current
context (kubectl_scipian.backend.issued reads the document)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from kubectl_scipian.backend.issued import entries
from kubectl_scipian.support.files import ca_file


class Target(NamedTuple):
    """What a kubeconfig says about where and who (one context)."""

    server: str
    namespace: str
    token: str | None
    ca_data: bytes | None
    insecure: bool
    tls_server_name: str | None

    @property
    def host_port(self) -> str:
        parts = urlsplit(self.server)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"


def target_from_kubeconfig(kubeconfig: Mapping[str, Any]) -> Target:
    context, cluster, user = entries(kubeconfig)
    ca = cluster.get("certificate-authority-data")
    ca_data = base64.b64decode(ca) if ca else None
    if ca_data is None and cluster.get("certificate-authority"):
        ca_data = Path(cluster["certificate-authority"]).read_bytes()
    return Target(
        server=str(cluster.get("server", "")).rstrip("/"),
        namespace=context.get("namespace") or "default",
        token=user.get("token"),
        ca_data=ca_data,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
    )


def ca_path(target: Target, cache_dir: Path) -> str | None:
    """The CA file for TLS to the target (urllib3 wants a file), None for the system roots."""
    if target.ca_data and not target.insecure:
        return ca_file(cache_dir, target.ca_data)
    return None

"""The issued kubeconfig and the timestamps the API writes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from scipian_backend import kube


def format_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kubeconfig_text(env_id: str, endpoint: kube.ClusterEndpoint, token: str) -> str:
    """The kubeconfig as JSON text. JSON is YAML, so kubectl, client-go, Helm and any YAML
    parser read it as they read a YAML kubeconfig; the plugin reads it with `json` and
    never loads a YAML parser (~10 ms of its start-up), and encoding it here costs a tenth
    of a YAML emitter's time on every issuance."""
    cluster: dict[str, Any] = {"server": endpoint.server}
    if endpoint.ca_data:
        cluster["certificate-authority-data"] = endpoint.ca_data
    if endpoint.insecure:
        cluster["insecure-skip-tls-verify"] = True
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": env_id, "cluster": cluster}],
        "users": [{"name": env_id, "user": {"token": token}}],
        "contexts": [{"name": env_id, "context": {"cluster": env_id, "user": env_id}}],
        "current-context": env_id,
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"

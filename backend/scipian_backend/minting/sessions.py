"""A user's session Secrets on a target: finding them, and revoking them (admin CLI)."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.identity import names


def revocable_sessions(
    core: client.CoreV1Api, namespace: str, username: str, timeout: float
) -> list[Any]:
    selector = f"{names.USER_HASH_LABEL}={names.user_hash(username)}"
    items = core.list_namespaced_secret(
        namespace, label_selector=selector, _request_timeout=timeout
    ).items
    # The label is a hash: the annotation confirms the exact identity.
    return [
        s for s in items if (s.metadata.annotations or {}).get(names.USER_ANNOTATION) == username
    ]


def revoke_sessions(api: client.ApiClient, namespace: str, username: str) -> int:
    """Deletes every session Secret of username; their tokens stop working at once."""
    core = client.CoreV1Api(api)
    deleted = 0
    for secret in revocable_sessions(core, namespace, username, 30.0):
        try:
            core.delete_namespaced_secret(secret.metadata.name, namespace, _request_timeout=30.0)
            deleted += 1
        except ApiException as e:
            if kube.status_of(e) != 404:
                raise
    return deleted

"""Authorization by the management cluster's RBAC: one SubjectAccessReview per question.

Admins grant `get` on `environments/kubeconfig` (reads) and `environments/releases` (Helm
release records), and `create` on `environments/deploy` (deploy credentials) in group
scipian.io with ordinary ClusterRoles and bindings, `resourceNames` naming the environments.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import GROUP, PLURAL
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.kube import json_body


class Authorizer:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._api = client.AuthorizationV1Api(mgmt)
        self._timeout = timeout

    def may_get_kubeconfig(self, who: Identity, env_id: str) -> bool:
        return self.allowed(who, env_id, "get", "kubeconfig")

    def may_deploy(self, who: Identity, env_id: str) -> bool:
        """`create` on `environments/deploy`: a deploy-level credential."""
        return self.allowed(who, env_id, "create", "deploy")

    def allowed(self, who: Identity, env_id: str, verb: str, subresource: str) -> bool:
        # Plain dicts both ways: this is on every request's path (kube.json_body).
        review: dict[str, Any] = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": who.username,
                "groups": list(who.groups),
                "resourceAttributes": {
                    "group": GROUP,
                    "resource": PLURAL,
                    "subresource": subresource,
                    "verb": verb,
                    "name": env_id,
                },
            },
        }
        try:
            result = json_body(
                self._api.create_subject_access_review(
                    review, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except (ApiException, HTTPError, ValueError):
            raise ServiceUnavailable("management cluster unavailable") from None
        status = result.get("status")
        if not isinstance(status, dict):
            return False
        return status.get("allowed") is True and status.get("denied") is not True

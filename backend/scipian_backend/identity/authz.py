"""Authorization by the management cluster's RBAC: one SubjectAccessReview per question.

Admins grant `get` on `environments/kubeconfig` (reads) and `environments/releases` (Helm
release records), `create` on `environments/deploy` (deploy credentials), on
`environments/approve` (approving a promotion step, acknowledging a break-glass) and on
`environments/breakglass` (a deploy credential around a promotion gate, besides deploy) in
group scipian.io with ordinary ClusterRoles and bindings, `resourceNames` naming the
environments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import GROUP, PLURAL
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.kube import json_body


class Authorizer:
    def __init__(
        self,
        mgmt: client.ApiClient,
        timeout: float = 10.0,
        on_review: Callable[[bool], None] | None = None,
    ) -> None:
        self._api = client.AuthorizationV1Api(mgmt)
        self._timeout = timeout
        # Called with whether each review names an object (metrics.py counts them: the
        # listing's cost stays flat in the number of environments, docs/backend.md).
        self._on_review = on_review

    def may_get_kubeconfig(self, who: Identity, env_id: str) -> bool:
        return self.allowed(who, env_id, "get", "kubeconfig")

    def may_deploy(self, who: Identity, env_id: str) -> bool:
        """`create` on `environments/deploy`: a deploy-level credential."""
        return self.allowed(who, env_id, "create", "deploy")

    def may_break_glass(self, who: Identity, env_id: str) -> bool:
        """`create` on `environments/breakglass`: a deploy credential around the promotion
        gate (asked besides `may_deploy`, never instead of it)."""
        return self.allowed(who, env_id, "create", "breakglass")

    def may_approve(self, who: Identity, env_id: str) -> bool:
        """`create` on `environments/approve`: approving a promotion step there."""
        return self.allowed(who, env_id, "create", "approve")

    def allowed(self, who: Identity, env_id: str, verb: str, subresource: str) -> bool:
        return self.allowed_on(who, verb, PLURAL, env_id, subresource)

    def allowed_on(
        self, who: Identity, verb: str, resource: str, name: str = "", subresource: str = ""
    ) -> bool:
        """Any question about a scipian.io resource (promotions: `get`, `list`)."""
        attributes: dict[str, str] = {"group": GROUP, "resource": resource, "verb": verb}
        if subresource:
            attributes["subresource"] = subresource
        if name:
            attributes["name"] = name
        # Plain dicts both ways: this is on every request's path (kube.json_body).
        review: dict[str, Any] = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": who.username,
                "groups": list(who.groups),
                "resourceAttributes": attributes,
            },
        }
        if self._on_review is not None:
            self._on_review(bool(name))
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

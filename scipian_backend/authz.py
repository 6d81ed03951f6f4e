"""Authorization by the management cluster's RBAC: one SubjectAccessReview per question.

Admins grant `get` on `environments/kubeconfig` (group scipian.io) with ordinary
ClusterRoles and bindings, `resourceNames` naming the environments.
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.authn import Identity
from scipian_backend.config import GROUP, PLURAL
from scipian_backend.errors import ServiceUnavailable


class Authorizer:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._api = client.AuthorizationV1Api(mgmt)
        self._timeout = timeout

    def may_get_kubeconfig(self, who: Identity, env_id: str) -> bool:
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=who.username,
                groups=list(who.groups),
                resource_attributes=client.V1ResourceAttributes(
                    group=GROUP,
                    resource=PLURAL,
                    subresource="kubeconfig",
                    verb="get",
                    name=env_id,
                ),
            )
        )
        try:
            result = self._api.create_subject_access_review(review, _request_timeout=self._timeout)
        except (ApiException, HTTPError):
            raise ServiceUnavailable("management cluster unavailable") from None
        status = result.status
        return bool(status and status.allowed and not status.denied)

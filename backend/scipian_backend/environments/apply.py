"""Server-side apply of the few kinds the admin CLI manages (idempotent create-or-update)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml
from kubernetes import client

FIELD_MANAGER = "scipian-backend"
PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Secret": "secrets",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "CustomResourceDefinition": "customresourcedefinitions",
    "Environment": "environments",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
}


def manifest(name: str) -> list[dict[str, Any]]:
    """The documents of a shipped manifest (backend/scipian_backend/manifests/NAME)."""
    text = resources.files("scipian_backend").joinpath("manifests").joinpath(name).read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def object_path(doc: dict[str, Any]) -> str:
    api_version = doc["apiVersion"]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    meta = doc["metadata"]
    ns = meta.get("namespace")
    scope = f"/namespaces/{ns}" if ns else ""
    return f"{base}{scope}/{PLURALS[doc['kind']]}/{meta['name']}"


def apply(api: client.ApiClient, doc: dict[str, Any], timeout: float = 30.0) -> Any:
    return api.call_api(
        object_path(doc),
        "PATCH",
        query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        header_params={
            "Content-Type": "application/apply-patch+yaml",
            "Accept": "application/json",
        },
        body=doc,
        auth_settings=["BearerToken"],
        response_types_map={200: "object", 201: "object"},
        _return_http_data_only=True,
        _request_timeout=timeout,
    )


def get(api: client.ApiClient, doc: dict[str, Any], timeout: float = 30.0) -> Any:
    return api.call_api(
        object_path(doc),
        "GET",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
        _request_timeout=timeout,
    )

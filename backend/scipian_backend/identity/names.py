"""Kubernetes object names derived from a user identity (pure functions)."""

from __future__ import annotations

import hashlib

USER_ANNOTATION = "scipian.io/user"
USER_HASH_LABEL = "scipian.io/user-hash"
ROLE_ANNOTATION = "scipian.io/cluster-role"
EXPIRES_ANNOTATION = "scipian.io/expires-after"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "scipian-backend"


def user_hash(username: str) -> str:
    """40 bits of hex would collide at ~1M users; 80 bits (20 hex chars) will not."""
    return hashlib.sha256(username.encode()).hexdigest()[:20]


def service_account_name(username: str) -> str:
    """A DNS-1123 label for any username: `scipian-u-<hash>` (29 characters)."""
    return f"scipian-u-{user_hash(username)}"


def binding_name(username: str, cluster_role: str) -> str:
    """One binding per (user, role), so a changed role never needs a roleRef update."""
    role = hashlib.sha256(cluster_role.encode()).hexdigest()[:8]
    return f"{service_account_name(username)}-{role}"


def session_prefix(username: str) -> str:
    """generateName prefix of the per-session Secrets; the apiserver adds 5 random chars."""
    return f"{service_account_name(username)}-"


LEVEL_ANNOTATION = "scipian.io/level"


def deploy_service_account_name(username: str) -> str:
    """The user's deploy-level ServiceAccount, apart from the read one: `scipian-d-<hash>`."""
    return f"scipian-d-{user_hash(username)}"


def deploy_binding_name(username: str, cluster_role: str) -> str:
    """The RoleBinding (one per deploy namespace) of the deploy ServiceAccount to its role."""
    role = hashlib.sha256(cluster_role.encode()).hexdigest()[:8]
    return f"{deploy_service_account_name(username)}-{role}"


def deploy_session_prefix(username: str) -> str:
    return f"{deploy_service_account_name(username)}-"

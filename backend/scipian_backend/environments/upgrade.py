"""`upgrade-target`: an existing target brought to this version (change.md §3, §10).

Re-applies, with the target's ADMIN kubeconfig, what `register` installs: the broker's
role and its delete fence (manifests/broker-role.yaml, broker-policy.yaml), the deployer
role and its admission policy (deployer-role.yaml, deployer-policy.yaml), the observer
role and the deploy namespaces' broker Roles; and rewrites a stored `clusterRole: edit`
(either level) to `scipian-deployer` unless keep_role. Identities that lose rights by it
lose them at once (admin.cleanup_identities).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from scipian_backend.config import DEFAULT_DEPLOY_ROLE, valid_env_id
from scipian_backend.environments import admin
from scipian_backend.environments.store import Environment, Store
from scipian_backend.errors import ConfigError

LEGACY_ROLE = "edit"


def role_changes(env: Environment, keep_role: bool) -> dict[str, Any]:
    """The `admin.updated` changes that move the environment off `edit` (pure)."""
    changes: dict[str, Any] = {}
    if keep_role:
        # Keeping `edit` is a deliberate choice of a privileged role (it impersonates
        # ServiceAccounts): recorded as --allow-privileged-role would, and shown by `list`.
        kept = {env.cluster_role, env.deploy.cluster_role if env.deploy else ""}
        if LEGACY_ROLE in kept:
            changes["allow_privileged_role"] = True
        return changes
    if env.cluster_role == LEGACY_ROLE:
        changes["cluster_role"] = DEFAULT_DEPLOY_ROLE
    if env.deploy is not None and env.deploy.cluster_role == LEGACY_ROLE:
        changes["deploy"] = {"cluster_role": DEFAULT_DEPLOY_ROLE}
    return changes


def upgrade_target(
    mgmt: client.ApiClient,
    target_admin: client.ApiClient,
    env_id: str,
    sessions_namespace: str,
    *,
    keep_role: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Returns the target's server and the role changes made."""
    env = Store(mgmt).get(env_id) if valid_env_id(env_id) else None
    if env is None:
        raise ConfigError(f"no environment {env_id} (register it first)")
    changes = role_changes(env, keep_role)
    reg = admin.updated(env, {**changes, "sessions_namespace": sessions_namespace})
    reg.validate()
    return admin.register(mgmt, target_admin, reg), changes

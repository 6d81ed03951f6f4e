"""`unregister`: an environment's identities on its target, then the Environment and its
broker Secret on mgmt.

Its identities (ServiceAccounts, bindings, session Secrets of every level, user and
source) go first, so no token it issued outlives it; the broker's credential suffices
(manifests/broker-policy.yaml lets it delete exactly those), an admin kubeconfig may be
given instead (a broker already revoked).
"""

from __future__ import annotations

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.config import GROUP, PLURAL, VERSION, valid_env_id
from scipian_backend.environments.store import Store
from scipian_backend.errors import ConfigError
from scipian_backend.minting.identities import Identities, cleanup_environment


def unregister(
    mgmt: client.ApiClient,
    env_id: str,
    sessions_namespace: str,
    target_admin: client.ApiClient | None = None,
) -> int:
    """Returns how many identities were removed from the target."""
    if not valid_env_id(env_id):
        raise ConfigError(f"invalid environment name {env_id!r}")
    store = Store(mgmt)
    env = store.get(env_id)
    if env is None:
        raise ConfigError(f"no environment {env_id}")
    target = target_admin
    if target is None:
        cred = store.broker_credential(env)
        try:
            target = kube.from_kubeconfig_dict(yaml.safe_load(cred.kubeconfig))
        except Exception:
            raise ConfigError(
                f"environment {env_id}: broker kubeconfig unusable (give --kubeconfig ADMIN)"
            ) from None
    removed = cleanup_environment(Identities(target, sessions_namespace, 30.0), env_id, None, None)
    try:
        client.CustomObjectsApi(mgmt).delete_cluster_custom_object(GROUP, VERSION, PLURAL, env_id)
    except ApiException as e:
        if kube.status_of(e) != 404:
            raise
    try:
        client.CoreV1Api(mgmt).delete_namespaced_secret(env.secret.name, env.secret.namespace)
    except ApiException as e:
        if kube.status_of(e) != 404:
            raise
    return removed

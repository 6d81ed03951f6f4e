"""Admin use cases: register an environment, list them, revoke a user's sessions.

`register` uses the target cluster's ADMIN kubeconfig only to install the broker (a
ServiceAccount with the least-privilege role of manifests/broker-role.yaml and a token,
plus, for a deploy level, a Role in each deploy namespace: deploy_broker_documents);
the management cluster then stores the BROKER kubeconfig, never the admin one. It also
installs the release reader (manifests/release-reader.yaml) whose tokens the broker requests.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, replace
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.config import (
    BROKER_NAME,
    DEFAULT_DEPLOY_ROLE,
    DEFAULT_MAX_ACCESS,
    ENVIRONMENT_LABEL,
    GROUP,
    KIND,
    MAX_ACCESS,
    MAX_AUTH_AGE,
    MIN_ACCESS,
    MIN_AUTH_AGE,
    MIN_TTL,
    SESSIONS_NAMESPACE,
    VERSION,
    valid_env_id,
)
from scipian_backend.environments import apply, broker_kubeconfig, refusals
from scipian_backend.environments.store import Deploy, Environment, Store
from scipian_backend.errors import ConfigError
from scipian_backend.minting.sessions import revoke_sessions

BROKER_NAMESPACE = "scipian-system"  # on the target: the broker's own ServiceAccount
TOKEN_SECRET = "scipian-broker-token"  # noqa: S105 - a Secret name, not a secret
OBSERVER_ROLE = "scipian-observer"  # manifests/observer-role.yaml; new environments' default


DEPLOY_BROKER_ROLE = "scipian-broker-deploy"  # per deploy namespace on the target

# The plugin's command words (kubectl_scipian.commands: TOP, PER_ENV, READ_VERBS): an
# environment named like one would make `kubectl scipian NAME ...` ambiguous (change.md
# §9), so `register` refuses it. A unit test keeps this list equal to the plugin's.
PLUGIN_COMMANDS = frozenset(
    {
        # TOP
        "login", "logout", "whoami", "envs", "promote", "promotions", "approve", "cancel",
        "version", "completion", "alias", "requests", "approve-request", "deny-request",
        "revoke-request",
        # PER_ENV
        "kubeconfig", "helm", "credential", "ack-break-glass", "request",
        # READ_VERBS
        "get", "describe", "logs",
    }
)  # fmt: skip


def check_not_a_command(name: str) -> None:
    """`register` only: an environment registered before keeps being updatable."""
    if name in PLUGIN_COMMANDS:
        raise ConfigError(
            f"environment name {name!r} refused: it is a kubectl scipian command "
            "(`kubectl scipian {name} ...` would be ambiguous)".replace("{name}", name)
        )


@dataclass(frozen=True)
class Registration:
    name: str
    description: str
    cluster_role: str
    ttl_seconds: int
    namespace: str  # management namespace of the broker Secret
    sessions_namespace: str = SESSIONS_NAMESPACE
    deploy: Deploy | None = None
    allow_privileged_role: bool = False  # --allow-privileged-role, kept in spec
    max_access_seconds: int = DEFAULT_MAX_ACCESS  # --max-access-seconds (change.md §9)

    def validate(self) -> None:
        self._validate_read()
        if self.deploy is not None:
            validate_deploy(self.deploy)
            refusals.check_namespaces(self.deploy.namespaces, self.sessions_namespace)
        refusals.check_role_names(self.roles(), self.allow_privileged_role)

    def roles(self) -> list[str]:
        """The ClusterRoles this environment binds, at both levels."""
        return [self.cluster_role] + ([self.deploy.cluster_role] if self.deploy else [])

    def _validate_read(self) -> None:
        if not valid_env_id(self.name):
            raise ConfigError(f"invalid environment name {self.name!r}: must be a DNS-1123 label")
        if self.ttl_seconds < MIN_TTL or self.ttl_seconds > 86400:
            raise ConfigError(f"--ttl must be between {MIN_TTL} and 86400 seconds")
        if not self.cluster_role or "/" in self.cluster_role:
            raise ConfigError(f"invalid cluster role {self.cluster_role!r}")
        if not valid_env_id(self.sessions_namespace) or not valid_env_id(self.namespace):
            raise ConfigError("namespaces must be DNS-1123 labels")
        if not MIN_ACCESS <= self.max_access_seconds <= MAX_ACCESS:
            raise ConfigError(
                f"--max-access-seconds must be between {MIN_ACCESS} and {MAX_ACCESS} seconds"
            )


def validate_deploy(deploy: Deploy) -> None:
    if not deploy.cluster_role or "/" in deploy.cluster_role:
        raise ConfigError(f"invalid deploy cluster role {deploy.cluster_role!r}")
    if not deploy.namespaces:
        raise ConfigError("a deploy level needs at least one --deploy-namespace")
    bad = [n for n in deploy.namespaces if not valid_env_id(n)]
    if bad:
        raise ConfigError(f"invalid deploy namespace {bad[0]!r}: must be a DNS-1123 label")
    if deploy.ttl_seconds < MIN_TTL or deploy.ttl_seconds > 86400:
        raise ConfigError(f"--deploy-ttl must be between {MIN_TTL} and 86400 seconds")
    if not MIN_AUTH_AGE <= deploy.max_auth_age_seconds <= MAX_AUTH_AGE:
        raise ConfigError(
            f"--max-auth-age must be between {MIN_AUTH_AGE} and {MAX_AUTH_AGE} seconds"
        )
    if deploy.require_promotion_from and not valid_env_id(deploy.require_promotion_from):
        raise ConfigError("--require-promotion-from must name an environment")
    if not 0 <= deploy.approvals_required <= 10:
        raise ConfigError("--approvals must be between 0 and 10")


def deploy_spec(deploy: Deploy) -> dict[str, Any]:
    """spec.deploy as stored (the CRD's field names)."""
    spec: dict[str, Any] = {
        "clusterRole": deploy.cluster_role,
        "namespaces": list(deploy.namespaces),
        "ttlSeconds": deploy.ttl_seconds,
        "maxAuthAgeSeconds": deploy.max_auth_age_seconds,
    }
    if deploy.require_promotion_from:
        spec["requirePromotionFrom"] = deploy.require_promotion_from
    if deploy.approvals_required:
        spec["approvals"] = {"required": deploy.approvals_required}
    return spec


def register(mgmt: client.ApiClient, target_admin: client.ApiClient, reg: Registration) -> str:
    """Prepares the target, stores its broker kubeconfig and the Environment; returns server."""
    reg.validate()
    refusals.check_target(
        mgmt,
        target_admin,
        roles=reg.roles(),
        deploy_namespaces=reg.deploy.namespaces if reg.deploy else (),
        secrets_namespace=reg.namespace,
        allow_privileged=reg.allow_privileged_role,
    )  # reads only: a refusal writes nothing
    endpoint = kube.endpoint_of(target_admin)
    install_observer_role(target_admin)
    install_deployer(target_admin, reg.sessions_namespace)
    token = install_broker(target_admin, reg.cluster_role, reg.sessions_namespace)
    if reg.deploy is not None:
        install_deploy_broker(target_admin, reg.deploy)
    broker_kubeconfig = _broker_kubeconfig(reg.name, endpoint, token)
    _check_broker(broker_kubeconfig, reg.sessions_namespace)
    install_crd(mgmt)
    secret_name = f"{reg.name}-kubeconfig"
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": reg.namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name,
                "namespace": reg.namespace,
                "labels": {ENVIRONMENT_LABEL: reg.name},
            },
            "type": "Opaque",
            "data": {"kubeconfig": base64.b64encode(broker_kubeconfig.encode()).decode()},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": reg.name},
            "spec": {
                "description": reg.description,
                "credentialsSecretRef": {
                    "namespace": reg.namespace,
                    "name": secret_name,
                    "key": "kubeconfig",
                },
                "access": {"clusterRole": reg.cluster_role, "ttlSeconds": reg.ttl_seconds},
                "maxAccessSeconds": reg.max_access_seconds,
                # Absent here, server-side apply removes a deploy level set before.
                **({"deploy": deploy_spec(reg.deploy)} if reg.deploy is not None else {}),
                **({"allowPrivilegedRole": True} if reg.allow_privileged_role else {}),
            },
        },
    ]
    for doc in docs:
        apply.apply(mgmt, doc)
    # An update (or a register again) may take rights away: its identities lose them now.
    cleanup_identities(target_admin, reg)
    return endpoint.server


def cleanup_identities(target_admin: client.ApiClient, reg: Registration) -> int:
    """Deletes the bindings of the environment's identities that it no longer grants
    (another role, a removed deploy namespace) and its deploy identities when it has no
    deploy level any more (minting/identities.py)."""
    from scipian_backend.minting.identities import Identities, cleanup_environment

    deploy = reg.deploy
    return cleanup_environment(
        Identities(target_admin, reg.sessions_namespace, 30.0),
        reg.name,
        reg.cluster_role,
        deploy.cluster_role if deploy is not None else None,
        deploy.namespaces if deploy is not None else (),
    )


def install_deployer(admin: client.ApiClient, sessions_namespace: str) -> None:
    """The default deploy role and the admission policy that keeps credentials Scipian
    issues from minting longer-lived ones (manifests/deployer-role.yaml,
    deployer-policy.yaml), for users of this sessions namespace."""
    for doc in apply.manifest("deployer-role.yaml") + deployer_policy_documents(sessions_namespace):
        apply.apply(admin, doc)


def deployer_policy_documents(sessions_namespace: str) -> list[dict[str, Any]]:
    docs = apply.manifest("deployer-policy.yaml")
    prefix = f"system:serviceaccount:{SESSIONS_NAMESPACE}:"
    for doc in docs:
        for cond in doc["spec"].get("matchConditions", []):
            cond["expression"] = cond["expression"].replace(
                prefix, f"system:serviceaccount:{sessions_namespace}:"
            )
    return docs


def install_crd(mgmt: client.ApiClient, timeout: float = 60.0) -> None:
    for name in ("crd.yaml", "promotion-crd.yaml", "accessrequest-crd.yaml"):
        for doc in apply.manifest(name):
            apply.apply(mgmt, doc)
    custom = client.CustomObjectsApi(mgmt)
    deadline = time.monotonic() + timeout
    while True:  # the CRD serves once Established
        try:
            custom.list_cluster_custom_object(GROUP, VERSION, "environments", limit=1)
            return
        except ApiException as e:
            if kube.status_of(e) != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def broker_documents(
    bindable: list[str], sessions_namespace: str = SESSIONS_NAMESPACE
) -> list[dict[str, Any]]:
    """manifests/broker-role.yaml for these bindable roles and this sessions namespace."""
    docs = apply.manifest("broker-role.yaml")
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "Namespace" and meta["name"] == SESSIONS_NAMESPACE:
            meta["name"] = sessions_namespace
        if meta.get("namespace") == SESSIONS_NAMESPACE:
            meta["namespace"] = sessions_namespace
        if doc["kind"] == "ClusterRole":
            for rule in doc["rules"]:
                if "bind" in rule["verbs"]:
                    rule["resourceNames"] = sorted(set(bindable))
    return docs


def install_observer_role(admin: client.ApiClient) -> None:
    """manifests/observer-role.yaml on the target, whatever role this environment binds:
    it is there to be chosen."""
    for doc in apply.manifest("observer-role.yaml"):
        apply.apply(admin, doc)


def role_for(requested: str | None, existing: str | None) -> str:
    """--cluster-role when given; else the environment keeps its role; a new one observes."""
    return requested or existing or OBSERVER_ROLE


def install_broker(admin: client.ApiClient, cluster_role: str, sessions_namespace: str) -> str:
    """Applies the broker's role and returns its long-lived token."""
    bindable = {cluster_role} | _bindable_now(admin)
    for doc in broker_documents(sorted(bindable), sessions_namespace):
        apply.apply(admin, doc)
    for doc in apply.manifest("release-reader.yaml"):  # the backend's Helm release reader
        apply.apply(admin, doc)
    for doc in apply.manifest("broker-policy.yaml"):  # what the broker may delete
        apply.apply(admin, doc)
    return _wait_token(client.CoreV1Api(admin))


def deploy_broker_documents(namespace: str, bindable: list[str]) -> list[dict[str, Any]]:
    """What the broker needs to bind deploy roles in ONE namespace, and nothing more: a Role
    there allowing `create`/`get` of RoleBindings and `bind` on exactly those ClusterRoles
    (RBAC's escalation check asks for `bind` in the binding's namespace), bound to the
    broker by a RoleBinding there. Nothing cluster-wide."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": DEPLOY_BROKER_ROLE, "namespace": namespace},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["rolebindings"],
                "verbs": ["create", "get"],
            },
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": sorted(set(bindable)),
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": DEPLOY_BROKER_ROLE, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": DEPLOY_BROKER_ROLE,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": BROKER_NAME, "namespace": BROKER_NAMESPACE}
        ],
    }
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return [namespace_doc, role, binding]


def install_deploy_broker(admin: client.ApiClient, deploy: Deploy) -> None:
    """The broker's deploy rights in each deploy namespace (the namespace is created when
    missing: it is where the environment's applications are deployed)."""
    rbac = client.RbacAuthorizationV1Api(admin)
    for namespace in deploy.namespaces:
        bindable = {deploy.cluster_role} | _deploy_bindable_now(rbac, namespace)
        for doc in deploy_broker_documents(namespace, sorted(bindable)):
            apply.apply(admin, doc)


def _deploy_bindable_now(rbac: client.RbacAuthorizationV1Api, namespace: str) -> set[str]:
    """Deploy roles already bindable in `namespace` (another environment on this cluster)."""
    try:
        role = rbac.read_namespaced_role(DEPLOY_BROKER_ROLE, namespace)
    except ApiException as e:
        if kube.status_of(e) == 404:
            return set()
        raise
    names: set[str] = set()
    for rule in role.rules or []:
        if "bind" in (rule.verbs or []):
            names |= set(rule.resource_names or [])
    return names


def _bindable_now(admin: client.ApiClient) -> set[str]:
    """Roles already bindable (other environments on the same cluster keep theirs)."""
    try:
        role = client.RbacAuthorizationV1Api(admin).read_cluster_role(BROKER_NAME)
    except ApiException as e:
        if kube.status_of(e) == 404:
            return set()
        raise
    names: set[str] = set()
    for rule in role.rules or []:
        if "bind" in (rule.verbs or []):
            names |= set(rule.resource_names or [])
    return names


def _wait_token(core: client.CoreV1Api, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        secret = core.read_namespaced_secret(TOKEN_SECRET, BROKER_NAMESPACE)
        token = (secret.data or {}).get("token")
        if token:
            return base64.b64decode(token).decode()
        if time.monotonic() > deadline:
            raise ConfigError(
                "target cluster: the token controller did not fill the broker token "
                "(is kube-controller-manager running?)"
            )
        time.sleep(0.2)


def _broker_kubeconfig(name: str, endpoint: kube.ClusterEndpoint, token: str) -> str:
    cluster: dict[str, Any] = {"server": endpoint.server}
    if endpoint.ca_data:
        cluster["certificate-authority-data"] = endpoint.ca_data
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{BROKER_NAME}@{name}", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{BROKER_NAME}@{name}"}}],
        "current-context": name,
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def _check_broker(kubeconfig: str, sessions_namespace: str, timeout: float = 30.0) -> None:
    """The broker can reach its namespace (RBAC caches may lag the apply by a moment)."""
    try:
        api = broker_kubeconfig.api_client(kubeconfig)
    except broker_kubeconfig.BrokerKubeconfigRefused as e:
        raise ConfigError(f"the broker kubeconfig would be refused: {e}") from None
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.read_namespaced_service_account("scipian-probe", sessions_namespace)
            return
        except ApiException as e:
            if kube.status_of(e) == 404:
                return
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"target cluster: the broker credential does not work (HTTP {e.status})"
                ) from None
        time.sleep(0.2)


def updated(current: Environment, changes: dict[str, Any]) -> Registration:
    """The registration `update` applies: the stored Environment with the given changes
    (None: keep; `deploy` False: remove the deploy level, a dict: replace fields of it)."""
    deploy = current.deploy
    change = changes.get("deploy")
    if change is False:
        deploy = None
    elif isinstance(change, dict) and change:
        base = deploy or Deploy(cluster_role=DEFAULT_DEPLOY_ROLE, namespaces=())
        fields = {k: v for k, v in change.items() if v is not None}
        if "namespaces" in fields:
            fields["namespaces"] = tuple(sorted(set(fields["namespaces"])))
        deploy = replace(base, **fields)
    return Registration(
        name=current.id,
        description=_keep(changes.get("description"), current.description),
        cluster_role=_keep(changes.get("cluster_role"), current.cluster_role),
        ttl_seconds=_keep(changes.get("ttl_seconds"), current.ttl_seconds),
        namespace=_keep(changes.get("namespace"), current.secret.namespace),
        sessions_namespace=_keep(changes.get("sessions_namespace"), SESSIONS_NAMESPACE),
        deploy=deploy,
        allow_privileged_role=_keep(
            changes.get("allow_privileged_role"), current.allow_privileged_role
        ),
        max_access_seconds=_keep(changes.get("max_access_seconds"), current.max_access_seconds),
    )


def _keep(new: Any, old: Any) -> Any:
    return old if new is None else new


def list_environments(mgmt: client.ApiClient) -> list[Environment]:
    return Store(mgmt).list()


def normalize_user(user: str, prefix: str) -> str:
    """`alice@example.test` and `oidc:alice@example.test` name the same user."""
    return user if user.startswith(prefix) else prefix + user


def revoke(mgmt: client.ApiClient, env_id: str, username: str, sessions_namespace: str) -> int:
    if not valid_env_id(env_id):
        raise ConfigError(f"invalid environment name {env_id!r}")
    store = Store(mgmt)
    env = store.get(env_id)
    if env is None:
        raise ConfigError(f"no environment {env_id}")
    cred = store.broker_credential(env)
    try:
        target = broker_kubeconfig.api_client(cred.kubeconfig)
    except Exception:
        raise ConfigError(f"environment {env_id}: broker kubeconfig unusable") from None
    return revoke_sessions(target, sessions_namespace, username)

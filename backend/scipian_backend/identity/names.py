"""Names, labels and annotations of Scipian's identities on a target (pure functions).

An identity is a ServiceAccount in the sessions namespace, with its bindings, per
(environment, level, user, source) (change.md §10). The source says why the identity
exists: `rbac` (the user's standing grants on mgmt), an approved access request
(`request:NAME`) or a promotion's step (`promotion:NAME:STEP`). Two environments on one
cluster, or the same user through two sources, never share an identity, so a binding made
for one never rides along on another's token.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

USER_ANNOTATION = "scipian.io/user"
USER_HASH_LABEL = "scipian.io/user-hash"
ROLE_ANNOTATION = "scipian.io/cluster-role"
EXPIRES_ANNOTATION = "scipian.io/expires-after"
LEVEL_ANNOTATION = "scipian.io/level"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "scipian-backend"

# Labels of every object of an identity (its ServiceAccount, bindings and session Secrets).
SCIPIAN_MANAGED = "scipian.io/managed"  # "true": what the broker may delete (broker-policy)
ENVIRONMENT_LABEL = "scipian.io/environment"
LEVEL_LABEL = "scipian.io/level"
SOURCE_LABEL = "scipian.io/source"
IDENTITY_LABEL = "scipian.io/identity"  # the ServiceAccount's name
SOURCE_ANNOTATION = "scipian.io/source"
# On every object of an identity whose source is an access request (`request:NAME`):
# NAME, so that a revoke or the window's end finds the request's sessions by label.
ACCESS_REQUEST_LABEL = "scipian.io/access-request"
REQUEST_SOURCE = "request:"
# On the ServiceAccount: the Environment generation its bindings were reconciled for, and
# the UTC day of its last issuance (written at most once a day; idle identities show).
GENERATION_ANNOTATION = "scipian.io/reconciled-generation"
# ... of the Environment with this uid: one deleted and registered again starts at
# generation 1 anew, and must not pass for the one whose bindings these are.
ENVIRONMENT_UID_ANNOTATION = "scipian.io/environment-uid"
LAST_ISSUED_DAY_ANNOTATION = "scipian.io/last-issued-day"

STANDING = "rbac"  # the source of credentials the user's standing RBAC grants allow
IDENTITY_VERSION = 2  # 1: per-user identities; 2: per (environment, level, user, source)

_ENV_PART = 23  # characters of the environment id kept readable in a name
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _hex(text: str, n: int = 20) -> str:
    """80 bits (20 hex characters): no collision in any realistic population."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def request_source(name: str) -> str:
    """The identity source of credentials under the access request NAME."""
    return f"{REQUEST_SOURCE}{name}"


def request_of(source: str) -> str:
    """The access request's name in a `request:NAME` source, else ""."""
    return source[len(REQUEST_SOURCE) :] if source.startswith(REQUEST_SOURCE) else ""


def access_request_selector(name: str) -> str:
    """Every object of the identity of one access request (its sessions first of all)."""
    return f"{SCIPIAN_MANAGED}=true,{ACCESS_REQUEST_LABEL}={label_value(name)}"


def user_hash(username: str) -> str:
    return _hex(username)


def label_value(text: str) -> str:
    """`text` when it is a valid label value, else `h-` and a hash of it."""
    value = text.replace(":", ".")
    return value if _LABEL_VALUE.fullmatch(value) else f"h-{_hex(text)}"


@dataclass(frozen=True)
class IdentityKey:
    environment: str
    level: str  # "read" | "deploy"
    user: str
    source: str = STANDING

    @property
    def digest(self) -> str:
        # NUL cannot occur in an env id, a level or a username claim: the join is unambiguous.
        return _hex("\0".join((self.environment, self.level, self.user, self.source)))

    @property
    def account(self) -> str:
        """`scipian-<env>-<r|d>-<hash>`: a DNS-1123 label of at most 54 characters (the
        environment cut to 23 for reading; the hash covers the whole key)."""
        env = self.environment[:_ENV_PART]
        return f"scipian-{env}-{'d' if self.level == 'deploy' else 'r'}-{self.digest}"

    @property
    def session_prefix(self) -> str:
        """generateName of its session Secrets (the apiserver adds 5 characters)."""
        return f"{self.account}-"

    def binding_name(self, cluster_role: str) -> str:
        """One binding per role (a roleRef cannot change): `<account>-<role hash>`, ≤ 63."""
        return f"{self.account}-{_hex(cluster_role, 8)}"

    def labels(self) -> dict[str, str]:
        labels = {
            MANAGED_LABEL: MANAGED_BY,
            SCIPIAN_MANAGED: "true",
            ENVIRONMENT_LABEL: self.environment,
            LEVEL_LABEL: self.level,
            USER_HASH_LABEL: user_hash(self.user),
            SOURCE_LABEL: label_value(self.source),
            IDENTITY_LABEL: self.account,
        }
        request = request_of(self.source)
        if request:
            labels[ACCESS_REQUEST_LABEL] = label_value(request)
        return labels

    def annotations(self) -> dict[str, str]:
        return {
            USER_ANNOTATION: self.user,
            LEVEL_ANNOTATION: self.level,
            SOURCE_ANNOTATION: self.source,
        }


def environment_selector(env_id: str) -> str:
    """Every identity object of one environment."""
    return f"{SCIPIAN_MANAGED}=true,{ENVIRONMENT_LABEL}={env_id}"


def identity_selector(account: str) -> str:
    return f"{SCIPIAN_MANAGED}=true,{IDENTITY_LABEL}={account}"


def legacy_selector(username: str) -> str:
    """The per-user objects of before identities (version 1): the user's hash label and no
    scipian.io/managed label."""
    return f"{USER_HASH_LABEL}={user_hash(username)},!{SCIPIAN_MANAGED}"


@dataclass(frozen=True)
class BindingRef:
    """A binding of an identity as it is or should be: ClusterRoleBinding when namespace
    is empty, else a RoleBinding there."""

    name: str
    namespace: str
    role: str


def desired_bindings(
    key: IdentityKey, cluster_role: str, namespaces: tuple[str, ...] | None
) -> list[BindingRef]:
    """What an identity should hold: the read level one ClusterRoleBinding, the deploy
    level one RoleBinding per deploy namespace."""
    name = key.binding_name(cluster_role)
    if namespaces is None:
        return [BindingRef(name, "", cluster_role)]
    return [BindingRef(name, ns, cluster_role) for ns in sorted(set(namespaces))]


def stale_bindings(existing: list[BindingRef], desired: list[BindingRef]) -> list[BindingRef]:
    """The existing bindings that are not desired (another role, a removed namespace)."""
    wanted = set(desired)
    return [b for b in existing if b not in wanted]


def missing_bindings(existing: list[BindingRef], desired: list[BindingRef]) -> list[BindingRef]:
    have = set(existing)
    return [b for b in desired if b not in have]

"""The stack's grants: ordinary RBAC on the management cluster, as a platform team writes it.

The backend asks with SubjectAccessReviews in group `scipian.io`, resource `environments`,
name = the environment's id; the subresource and verb say what is asked:

- `get environments/kubeconfig`: a read credential; `get environments/releases`: the
  redacted Helm history, granted wherever reads are;
- `create environments/deploy`: a deploy credential;
- `create environments/approve`: approving a promotion step on that environment, and
  acknowledging someone else's break-glass there;
- `create environments/breakglass`: a deploy credential around that environment's promotion
  gate, asked besides `create environments/deploy` (change.md §13: release-managers on
  prod; platform-admins, who deploy everywhere, do not break glass);
- `create environments/request-read` / `environments/request-deploy`: asking for a read or
  deploy credential there with an AccessRequest, approved by those who may approve there;
- `get`/`list`/`watch` on `promotions`: reading Promotion objects (platform-admins,
  release-managers, team-a, team-b; mallory none).

Group subjects carry the backend's claim prefix (`oidc:`). A grant without environments
has no `resourceNames`, so it covers every environment, registered now or later.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = ("get", ("environments/kubeconfig", "environments/releases"))
DEPLOY = ("create", ("environments/deploy",))
APPROVE = ("create", ("environments/approve",))
BREAKGLASS = ("create", ("environments/breakglass",))
# Asking for access (change.md §9): an AccessRequest for a read or a deploy credential.
REQUEST_READ = ("create", ("environments/request-read",))
REQUEST_DEPLOY = ("create", ("environments/request-deploy",))
# Reading Promotion objects (promotions.scipian.io): RBAC on the resource itself.
PROMOTIONS = (("get", "list", "watch"), ("promotions",))


@dataclass(frozen=True)
class Grant:
    kind: str  # the ClusterRole's middle name: env (reads), deploy, approve, breakglass, ...
    access: tuple[str | tuple[str, ...], tuple[str, ...]]  # (verb or verbs, resources)
    group: str
    envs: tuple[str, ...] = ()  # empty: every environment

    @property
    def role(self) -> str:
        return f"scipian-{self.kind}-" + ("-".join(self.envs) if self.envs else "all")


GRANTS = (
    Grant("env", READ, "oidc:team-a", ("dev",)),
    Grant("env", READ, "oidc:team-b", ("prod",)),
    Grant("env", READ, "oidc:platform-admins"),
    Grant("deploy", DEPLOY, "oidc:team-a", ("dev",)),
    Grant("deploy", DEPLOY, "oidc:platform-admins"),
    Grant("approve", APPROVE, "oidc:platform-admins", ("dev", "staging")),
    Grant("approve", APPROVE, "oidc:release-managers", ("prod",)),
    Grant("breakglass", BREAKGLASS, "oidc:release-managers", ("prod",)),
    Grant("request-read", REQUEST_READ, "oidc:team-b", ("staging",)),
    Grant("request-deploy", REQUEST_DEPLOY, "oidc:team-a", ("dev",)),
    Grant("request-deploy", REQUEST_DEPLOY, "oidc:team-b", ("prod",)),
    Grant("request-deploy", REQUEST_DEPLOY, "oidc:platform-admins"),
    Grant("promotions", PROMOTIONS, "oidc:platform-admins"),
    Grant("promotions", PROMOTIONS, "oidc:release-managers"),
    Grant("promotions", PROMOTIONS, "oidc:team-a"),
    Grant("promotions", PROMOTIONS, "oidc:team-b"),
)


def manifest(grants: tuple[Grant, ...] = GRANTS) -> dict[str, object]:
    """One kubectl List: a ClusterRole per role name, a ClusterRoleBinding per grant."""
    roles: dict[str, dict[str, object]] = {}
    bindings: list[dict[str, object]] = []
    for grant in grants:
        verb, resources = grant.access
        rule: dict[str, object] = {
            "apiGroups": ["scipian.io"],
            "resources": list(resources),
            "verbs": [verb] if isinstance(verb, str) else list(verb),
        }
        if grant.envs:
            rule["resourceNames"] = list(grant.envs)
        roles[grant.role] = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": grant.role},
            "rules": [rule],
        }
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{grant.role}-{grant.group.removeprefix('oidc:')}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": grant.role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": grant.group}
                ],
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": [*roles.values(), *bindings]}

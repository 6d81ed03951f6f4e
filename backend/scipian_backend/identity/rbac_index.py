"""A watch-fed index of mgmt's RBAC: which environments a caller's ClusterRoleBindings name.

The listing (usecases.Backend.environments) asks it which environments a caller MAY be
allowed, then confirms each candidate by its own SubjectAccessReview: the index only
bounds the questions, the API server's authorizer still answers them, so a binding
removed a moment ago refuses at once even before its watch event arrives. A grant the
index has not seen yet (its event is in flight) is missing from a listing for that long.

Kept: ClusterRoles whose rules reach `environments/kubeconfig` (get) or
`environments/deploy` (create) in group scipian.io, as RBAC matches them (identity/
authz.py's questions; `*` in groups, verbs and resources, `*/SUBRESOURCE`), and every
ClusterRoleBinding to a ClusterRole, by subject. RoleBindings grant nothing on the
cluster-scoped Environments, so they are not watched. Other authorizers (webhooks) are
not indexed: what they grant appears when asked for by name (docs/backend.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from scipian_backend.config import GROUP, PLURAL
from scipian_backend.identity.authn import Identity
from scipian_backend.worker.watch import Watcher

log = logging.getLogger("scipian.backend")
RBAC_GROUP = "rbac.authorization.k8s.io"
# The listing's two questions: (verb, subresource) on environments.
GET_KUBECONFIG = ("get", "kubeconfig")
CREATE_DEPLOY = ("create", "deploy")
# The dashboard's request form: where may the caller ask for each level.
REQUEST_READ = ("create", "request-read")
REQUEST_DEPLOY = ("create", "request-deploy")
QUESTIONS = (GET_KUBECONFIG, CREATE_DEPLOY, REQUEST_READ, REQUEST_DEPLOY)
EVERYONE = "system:authenticated"  # bound to every signed-in caller

Question = tuple[str, str]


@dataclass(frozen=True)
class Reach:
    """The environments one rule, role or caller reaches for one question: every one (a
    rule without resourceNames), or these names."""

    every: bool = False
    names: frozenset[str] = frozenset()

    def __or__(self, other: Reach) -> Reach:
        # Names are kept beside `every`: the listing's nameless review decides `every`
        # alone, and the names still stand when it refuses (an index a moment stale).
        return Reach(self.every or other.every, self.names | other.names)

    def __bool__(self) -> bool:
        return self.every or bool(self.names)


NOTHING = Reach()


@dataclass(frozen=True)
class Binding:
    """A ClusterRoleBinding as the index keeps it: its ClusterRole and its subjects."""

    role: str
    users: frozenset[str]
    groups: frozenset[str]


def _strings(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(x for x in raw if isinstance(x, str))


def rule_reach(rule: object, question: Question) -> Reach:
    """What one PolicyRule reaches for (verb, subresource) on scipian.io environments, as
    the RBAC authorizer matches it (pure)."""
    if not isinstance(rule, dict):
        return NOTHING
    verb, subresource = question
    groups = _strings(rule.get("apiGroups"))
    if GROUP not in groups and "*" not in groups:
        return NOTHING
    verbs = _strings(rule.get("verbs"))
    if verb not in verbs and "*" not in verbs:
        return NOTHING
    resources = _strings(rule.get("resources"))
    wanted = ("*", f"{PLURAL}/{subresource}", f"*/{subresource}")
    if not any(r in wanted for r in resources):
        return NOTHING
    names = _strings(rule.get("resourceNames"))
    if not names:
        return Reach(every=True)
    return Reach(names=frozenset(names))


def role_reaches(role: dict[str, Any]) -> dict[Question, Reach]:
    """A ClusterRole's reach per question; questions it reaches nothing for are left out
    (pure; an aggregated role is judged by the rules the controller wrote into it)."""
    rules = role.get("rules")
    found: dict[Question, Reach] = {}
    for q in QUESTIONS:
        reach = NOTHING
        for rule in rules if isinstance(rules, list) else ():
            reach = reach | rule_reach(rule, q)
        if reach:
            found[q] = reach
    return found


def parse_binding(obj: dict[str, Any]) -> Binding | None:
    """A ClusterRoleBinding's role and subjects; None when it binds no ClusterRole (pure).
    A ServiceAccount subject is the user `system:serviceaccount:NS:NAME`, as RBAC sees it."""
    ref = obj.get("roleRef")
    if not isinstance(ref, dict) or ref.get("kind") != "ClusterRole":
        return None
    if ref.get("apiGroup") not in (RBAC_GROUP, None, ""):
        return None
    role = ref.get("name")
    if not isinstance(role, str) or not role:
        return None
    users: set[str] = set()
    groups: set[str] = set()
    subjects = obj.get("subjects")
    for s in subjects if isinstance(subjects, list) else ():
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            continue
        kind, name = s.get("kind"), s["name"]
        if kind == "User":
            users.add(name)
        elif kind == "Group":
            groups.add(name)
        elif kind == "ServiceAccount" and isinstance(s.get("namespace"), str) and s["namespace"]:
            users.add(f"system:serviceaccount:{s['namespace']}:{name}")
    return Binding(role, frozenset(users), frozenset(groups))


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def subject_keys(who: Identity) -> tuple[str, ...]:
    """The index keys of a caller: their user, their groups, and every signed-in caller's
    group (pure)."""
    return (f"u:{who.username}", *(f"g:{g}" for g in (*who.groups, EVERYONE)))


def _binding_keys(b: Binding) -> Iterable[str]:
    yield from (f"u:{u}" for u in b.users)
    yield from (f"g:{g}" for g in b.groups)


class RbacIndex:
    """ClusterRoles reaching environments and ClusterRoleBindings by subject, kept by two
    list+watch loops (worker/watch.py); `reach` costs only the caller's own bindings."""

    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._rbac = client.RbacAuthorizationV1Api(mgmt)
        self._mgmt = mgmt
        self._timeout = timeout
        self._lock = threading.Lock()
        self._roles: dict[str, dict[Question, Reach]] = {}
        self._bindings: dict[str, Binding] = {}
        self._by_subject: dict[str, set[str]] = {}
        self._roles_listed = threading.Event()
        self._bindings_listed = threading.Event()
        self._stop = threading.Event()
        self._watchers: list[Watcher] = []

    # --- what the listing asks ------------------------------------------------------------

    def ready(self) -> bool:
        """Both lists were read once (watch events keep them since)."""
        return self._roles_listed.is_set() and self._bindings_listed.is_set()

    def wait_ready(self, seconds: float) -> bool:
        return self._roles_listed.wait(seconds) and self._bindings_listed.wait(seconds)

    def reach(self, who: Identity, question: Question) -> Reach:
        """What the caller's ClusterRoleBindings reach for `question`: candidates only, each
        to be confirmed by a SubjectAccessReview."""
        found = NOTHING
        with self._lock:
            for key in subject_keys(who):
                for binding_name in self._by_subject.get(key, ()):
                    binding = self._bindings.get(binding_name)
                    role = self._roles.get(binding.role) if binding is not None else None
                    if role is not None:
                        found = found | role.get(question, NOTHING)
        return found

    # --- the watches ------------------------------------------------------------------------

    def start(self) -> None:
        for plural, lister, on_list, on_event, keep in (
            (
                "clusterroles",
                self._rbac.list_cluster_role,
                self._roles_list,
                self._role_event,
                _role_entry,
            ),
            (
                "clusterrolebindings",
                self._rbac.list_cluster_role_binding,
                self._bindings_list,
                self._binding_event,
                _binding_entry,
            ),
        ):
            w = Watcher(
                self._mgmt,
                RBAC_GROUP,
                "v1",
                plural,
                on_list=on_list,
                on_event=on_event,
                stop=self._stop,
                timeout=self._timeout,
                lister=lister,
                keep=keep,
                log_name="rbac index",
            )
            self._watchers.append(w)
            threading.Thread(target=w.run, name=f"scipian-index-{plural}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        for w in self._watchers:
            w.close()

    def _roles_list(self, items: list[tuple[str, dict[Question, Reach]]]) -> None:
        with self._lock:
            self._roles = {name: reaches for name, reaches in items if name and reaches}
        self._roles_listed.set()

    def _role_event(self, kind: str, obj: dict[str, Any]) -> None:
        name, reaches = _role_entry(obj)
        with self._lock:
            if kind == "DELETED" or not reaches:
                self._roles.pop(name, None)
            else:
                self._roles[name] = reaches

    def _bindings_list(self, items: list[tuple[str, Binding | None]]) -> None:
        bindings = {name: b for name, b in items if name and b is not None}
        by_subject: dict[str, set[str]] = {}
        for name, b in bindings.items():
            for key in _binding_keys(b):
                by_subject.setdefault(key, set()).add(name)
        with self._lock:
            self._bindings, self._by_subject = bindings, by_subject
        self._bindings_listed.set()

    def _binding_event(self, kind: str, obj: dict[str, Any]) -> None:
        name, binding = _binding_entry(obj)
        if not name:
            return
        with self._lock:
            old = self._bindings.pop(name, None)
            for key in _binding_keys(old) if old is not None else ():
                names = self._by_subject.get(key)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del self._by_subject[key]
            if kind == "DELETED" or binding is None:
                return
            self._bindings[name] = binding
            for key in _binding_keys(binding):
                self._by_subject.setdefault(key, set()).add(name)


def _role_entry(obj: dict[str, Any]) -> tuple[str, dict[Question, Reach]]:
    return _name(obj), role_reaches(obj)


def _binding_entry(obj: dict[str, Any]) -> tuple[str, Binding | None]:
    return _name(obj), parse_binding(obj)

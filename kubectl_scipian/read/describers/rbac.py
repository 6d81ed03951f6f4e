"""Role, ClusterRole, RoleBinding, ClusterRoleBinding (kubectl prints no events for them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kubectl_scipian.read.describers.fields import (
    Obj,
    go_list,
    print_annotations,
    print_labels,
)

if TYPE_CHECKING:
    from kubectl_scipian.read.describers.output import Out
    from kubectl_scipian.read.discovery import Resource
    from kubectl_scipian.read.session import Session


class Rule(NamedTuple):
    verbs: list[str]
    groups: list[str]
    resources: list[str]
    names: list[str]
    urls: list[str]

    def text(self) -> str:
        """PolicyRule.String(), the key kubectl sorts the rules by."""
        return (
            f"&PolicyRule{{Verbs:{go_list(self.verbs)},APIGroups:{go_list(self.groups)},"
            f"Resources:{go_list(self.resources)},ResourceNames:{go_list(self.names)},"
            f"NonResourceURLs:{go_list(self.urls)},}}"
        )


def breakdown(rule: Obj) -> list[Rule]:
    """rbac.BreakdownRule: one verb, one resource and at most one name per rule."""
    verbs = [str(v) for v in rule.get("verbs") or []]
    names: list[str | None] = [str(n) for n in rule.get("resourceNames") or []]
    out: list[Rule] = []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in verbs:
                for name in names or [None]:
                    picked = [] if name is None else [name]
                    out.append(Rule([verb], [group], [resource], picked, []))
    for url in rule.get("nonResourceURLs") or []:
        out.extend(Rule([verb], [], [], [], [url]) for verb in verbs)
    return out


def compact(rules: list[Rule]) -> list[Rule]:
    """rbac.CompactRules then sort.Stable by String(): verbs of one resource (and name) joined."""
    kept: list[Rule] = []
    simple: dict[tuple[str, str, bool, str], Rule] = {}
    for r in rules:
        if r.urls or len(r.names) > 1 or len(r.groups) != 1 or len(r.resources) != 1:
            kept.append(r)
            continue
        key = (r.groups[0], r.resources[0], bool(r.names), r.names[0] if r.names else "")
        if key in simple:
            verbs = simple[key].verbs
            verbs.extend(v for v in r.verbs if v not in verbs)
        else:
            simple[key] = Rule(list(r.verbs), r.groups, r.resources, r.names, r.urls)
    return sorted([*kept, *simple.values()], key=Rule.text)


def _resource_group(resources: list[str], groups: list[str]) -> str:
    """CombineResourceGroup: `deployments.apps`, `pods/log`."""
    if not resources:
        return ""
    resource, _, sub = resources[0].partition("/")
    if groups and groups[0]:
        resource += f".{groups[0]}"
    return f"{resource}/{sub}" if "/" in resources[0] else resource


def role(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    """Role and ClusterRole alike."""
    meta = obj.get("metadata") or {}
    rules = compact([r for rule in obj.get("rules") or [] for r in breakdown(rule)])
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "PolicyRule:\n")
    w.write(1, "Resources\tNon-Resource URLs\tResource Names\tVerbs\n")
    w.write(1, "---------\t-----------------\t--------------\t-----\n")
    for r in rules:
        w.write(
            1,
            f"{_resource_group(r.resources, r.groups)}\t{go_list(r.urls)}\t"
            f"{go_list(r.names)}\t{go_list(r.verbs)}\n",
        )


def binding(session: Session, res: Resource, obj: Obj, w: Out, events: bool) -> None:
    """RoleBinding and ClusterRoleBinding alike."""
    meta, ref = obj.get("metadata") or {}, obj.get("roleRef") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    print_labels(w, "Labels", meta.get("labels"))
    print_annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "Role:\n")
    w.write(1, f"Kind:\t{ref.get('kind', '')}\n")
    w.write(1, f"Name:\t{ref.get('name', '')}\n")
    w.write(0, "Subjects:\n")
    w.write(1, "Kind\tName\tNamespace\n")
    w.write(1, "----\t----\t---------\n")
    for s in obj.get("subjects") or []:
        w.write(1, f"{s.get('kind', '')}\t{s.get('name', '')}\t{s.get('namespace', '')}\n")

"""The diff approvers see (change.md §6), pure: desired objects against live ones.

Both sides are helm's own manifests (the desired: the step's render; the live: the release
now on the target, from its record), so there is no server-side defaulting to filter out:
what differs is what the change changes. What leaves here is shape only:

- images (old, new) and replicas of workloads, and the JSON paths of the pod-template
  fields that differ, never their values;
- ConfigMaps: key names added, removed or changed, never values;
- Secrets: only `present` (added, removed or kept). A Secret on both sides is always
  listed, as `changed` with `present: kept`, whether or not anything in it changed: a
  Secret left out when equal would tell whether its data changed.

Objects are keyed by (kind, namespace, name); a missing namespace is the release's (helm
renders most objects without one) unless the kind is cluster-scoped. Hooks are the objects
helm treats as hooks: those annotated `helm.sh/hook`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

ADDED, CHANGED, REMOVED = "added", "changed", "removed"
KEPT = "kept"
HOOK_ANNOTATION = "helm.sh/hook"
MAX_FIELDS = 100  # paths (or key names) per list; the last entry says how many more
MAX_DEPTH = 32  # below this the whole subtree counts as one field
# Kinds a chart may render without a namespace that have none (helm leaves them as they are).
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)
# Where each workload keeps its pod template (Pod: its own spec is one).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

Key = tuple[str, str, str]


def diff(desired: Iterable[Any], live: Iterable[Any], namespace: str = "") -> list[dict[str, Any]]:
    """The changed objects, sorted by (kind, namespace, name). `namespace` is the release's,
    for the objects rendered without one."""
    want = _index(desired, namespace)
    have = _index(live, namespace)
    out = []
    for key in sorted(want.keys() | have.keys()):
        entry = _entry(key, want.get(key), have.get(key))
        if entry is not None:
            out.append(entry)
    return out


def answer(environment: str, digest: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The route's body (docs/api.md, "Diff")."""
    return {"environment": environment, "digest": digest, "objects": objects}


def _index(objects: Iterable[Any], namespace: str) -> dict[Key, dict[str, Any]]:
    """(kind, namespace, name) → object; anything that is not an object with a kind and a
    name is not something helm would apply, and is left out. A duplicate keeps the last."""
    found: dict[Key, dict[str, Any]] = {}
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        kind, meta = obj.get("kind"), _dict(obj.get("metadata"))
        name = meta.get("name")
        if not isinstance(kind, str) or not kind or not isinstance(name, str) or not name:
            continue
        ns = meta.get("namespace")
        if not isinstance(ns, str) or not ns:
            ns = "" if kind in CLUSTER_SCOPED else namespace
            # as helm applies it: the release's namespace written or not is the same object
            obj = {**obj, "metadata": {**meta, "namespace": ns}} if ns else obj
        found[(kind, ns, name)] = obj
    return found


def _entry(
    key: Key, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> dict[str, Any] | None:
    kind, namespace, name = key
    change = ADDED if old is None else REMOVED if new is None else CHANGED
    secret = kind == "Secret"
    if change == CHANGED and not secret and _canonical(old) == _canonical(new):
        return None
    entry: dict[str, Any] = {
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "change": change,
        "hook": _is_hook(new if new is not None else old),
        "images": [],
        "replicas": None,
        "fields": [],
        "keys": None,
    }
    if secret:
        entry["present"] = KEPT if change == CHANGED else change
        return entry
    if kind == "ConfigMap":
        entry["keys"] = _keys(_data(old), _data(new))
    if kind in TEMPLATES:
        entry["images"] = _images(_template(kind, old), _template(kind, new))
        if change == CHANGED:
            entry["fields"] = _fields(kind, old, new)
        replicas = (_replicas(old), _replicas(new))
        if replicas[0] != replicas[1]:
            entry["replicas"] = {"old": replicas[0], "new": replicas[1]}
    return entry


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _is_hook(obj: dict[str, Any] | None) -> bool:
    annotations = _dict(_dict(_dict(obj).get("metadata")).get("annotations"))
    return HOOK_ANNOTATION in annotations


def _data(obj: dict[str, Any] | None) -> dict[str, Any]:
    """A ConfigMap's keys, text and binary alike (their names share one space)."""
    if obj is None:
        return {}
    return {**_dict(obj.get("binaryData")), **_dict(obj.get("data"))}


def _keys(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    both = old.keys() & new.keys()
    return {
        "added": _bounded(sorted(str(k) for k in new.keys() - old.keys())),
        "removed": _bounded(sorted(str(k) for k in old.keys() - new.keys())),
        "changed": _bounded(
            sorted(str(k) for k in both if _canonical(old[k]) != _canonical(new[k]))
        ),
    }


def _bounded(names: list[str]) -> list[str]:
    """At most MAX_FIELDS entries, the last saying how many more there are."""
    if len(names) <= MAX_FIELDS:
        return names
    more = len(names) - (MAX_FIELDS - 1)
    return [*names[: MAX_FIELDS - 1], f"({more} more)"]


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = _dict(obj).get(part)
    return obj


def _template(kind: str, obj: dict[str, Any] | None) -> dict[str, Any]:
    return _dict(_at(obj, TEMPLATES[kind])) if obj is not None else {}


def _containers(template: dict[str, Any]) -> dict[str, Any]:
    """Container name → image, over every container list (names are unique in a pod)."""
    spec = _dict(template.get("spec"))
    images: dict[str, Any] = {}
    for field in CONTAINER_LISTS:
        for c in _list(spec.get(field)):
            c = _dict(c)
            if isinstance(c.get("name"), str):
                image = c.get("image")
                images[c["name"]] = image if isinstance(image, str) else None
    return images


def _images(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    was, now = _containers(old), _containers(new)
    return [
        {"container": name, "old": was.get(name), "new": now.get(name)}
        for name in sorted(was.keys() | now.keys())
        if was.get(name) != now.get(name)
    ]


def _replicas(obj: dict[str, Any] | None) -> int | None:
    value = _dict(_dict(obj).get("spec")).get("replicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fields(kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """The paths, from the object's root, of pod-template fields that differ."""
    prefix = ".".join(TEMPLATES[kind])
    return _bounded(sorted(_walk(_template(kind, old), _template(kind, new), prefix, 0)))


def _walk(old: Any, new: Any, path: str, depth: int) -> Iterator[str]:
    if _canonical(old) == _canonical(new):
        return
    if depth >= MAX_DEPTH:
        yield path or "."
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            yield from _walk(old.get(key), new.get(key), _join(path, str(key)), depth + 1)
    elif isinstance(old, list) and isinstance(new, list) and _named(old) and _named(new):
        was = {item["name"]: item for item in old}
        now = {item["name"]: item for item in new}
        for name in was.keys() | now.keys():
            yield from _walk(was.get(name), now.get(name), f"{path}[{name}]", depth + 1)
    elif isinstance(old, list) and isinstance(new, list) and old and new:
        for i in range(max(len(old), len(new))):
            a = old[i] if i < len(old) else None
            b = new[i] if i < len(new) else None
            yield from _walk(a, b, f"{path}[{i}]", depth + 1)
    else:
        yield path or "."


def _named(items: list[Any]) -> bool:
    """A list of objects each with a unique string `name` (containers, env, volumes, ports):
    compared by name, so that an insertion is one change, not a shift of every index."""
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

"""What a render is, as digests (pure), and the `helm template` arguments that make one.

`render_digest` is the one identity of a render (change.md §5): `helm template`'s output
(manifest and hooks in one stream) and a release's `-o json` (manifest, hooks apart) give
the same digest for the same objects, because both are reduced to their objects, sorted by
(apiVersion, kind, namespace, name), as canonical JSON. YAML aliases are refused: a chart
controls its rendered text, and an alias bomb would expand in the canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import yaml
from kubernetes.client.rest import ApiException
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import Node

MAX_OBJECTS = 10_000  # objects in one render


class RenderError(ValueError):
    """A render's text is not a list of Kubernetes objects (classified: rendering failed)."""


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases, and with timestamps left as the strings Helm wrote."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            raise RenderError("YAML aliases are not accepted in a render")
        return Composer.compose_node(self, parent, index)


# Go's YAML decoder does not make timestamps; neither do we (they stay strings).
_NoAliasLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a multi-document manifest; empty documents skipped."""
    found: list[dict[str, Any]] = []
    try:
        for doc in yaml.load_all(manifest, Loader=_NoAliasLoader):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise RenderError("a rendered document is not an object")
            found.append(doc)
            if len(found) > MAX_OBJECTS:
                raise RenderError(f"more than {MAX_OBJECTS} objects in one render")
    except yaml.YAMLError:
        raise RenderError("a rendered document is not YAML") from None
    except RecursionError:
        raise RenderError("a rendered document nests too deep") from None
    return found


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (
        str(obj.get("apiVersion") or ""),
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: one byte string per JSON value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def render_digest(manifest: str, hooks: Sequence[str] = ()) -> str:
    """sha256 of the render's objects (manifest and hooks' manifests), sorted, canonical."""
    found = objects(manifest)
    for hook in hooks:
        found.extend(objects(hook))
    found.sort(key=lambda o: (_key(o), canonical(o)))
    return _sha(canonical(found))


def manifest_digest(manifest: str) -> str:
    """sha256 of the manifest text as helm stored it (a record's equals helm's output)."""
    return _sha(manifest.encode("utf-8"))


def config_digest(config: dict[str, Any] | None) -> str:
    """sha256 of the release's user-supplied values as sorted-key JSON ({} for none)."""
    return _sha(canonical(config or {}))


def template_args(
    release: str,
    namespace: str,
    chart: str,
    *,
    kube_version: str,
    api_versions: Sequence[str],
    is_upgrade: bool,
    values_files: Sequence[str] = (),
    sets: Sequence[str] = (),
) -> list[str]:
    """`helm template` arguments for a render with the target's capabilities and no
    cluster credential (no --validate, no lookup against a cluster, no CRDs from crds/,
    which a release's manifest does not hold either)."""
    args = ["template", release, chart, "--namespace", namespace]
    if kube_version:
        args += ["--kube-version", kube_version]
    if api_versions:
        args += ["--api-versions", ",".join(api_versions)]
    if is_upgrade:
        args.append("--is-upgrade")
    for path in values_files:
        args += ["--values", path]
    for s in sets:
        args += ["--set", s]
    return args


def capabilities(target: Any, timeout: float = 10.0) -> tuple[str, list[str]]:
    """The target's `--kube-version` (its gitVersion, kept whole as helm keeps it) and
    `--api-versions` (every group/version, and group/version/Kind of each resource: what
    helm's own discovery gives .Capabilities.APIVersions on that cluster)."""
    version = _get(target, "/version", timeout)
    kube_version = str(version.get("gitVersion") or "")
    found: set[str] = set()
    gvs: list[str] = []
    core = _get(target, "/api", timeout)
    gvs += [str(v) for v in core.get("versions") or []]
    groups = _get(target, "/apis", timeout)
    for g in groups.get("groups") or []:
        for v in g.get("versions") or []:
            if v.get("groupVersion"):
                gvs.append(str(v["groupVersion"]))
    for gv in gvs:
        found.add(gv)
        path = f"/api/{gv}" if "/" not in gv else f"/apis/{gv}"
        try:
            resources = _get(target, path, timeout)
        except ApiException as e:
            if e.status in (404, 503):  # an unavailable aggregated API: helm skips it too
                continue
            raise
        for r in resources.get("resources") or []:
            if r.get("kind"):
                found.add(f"{gv}/{r['kind']}")
    return kube_version, sorted(found)


def _get(target: Any, path: str, timeout: float) -> dict[str, Any]:
    resp = target.call_api(
        path,
        "GET",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
        _request_timeout=timeout,
    )
    return resp if isinstance(resp, dict) else {}

"""What resource types the server has, cached on disk, and how names resolve to them.

Aggregated discovery (two requests: /api and /apis) where the server offers it,
else the one-request-per-group-version discovery. The result is cached per
server under `cache_dir/discovery/<host_port>/` for six hours (kubectl's TTL,
by file mtime); a name that misses a cached discovery refreshes it once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from kubectl_scipian.read.errors import UsageError
from kubectl_scipian.support.files import write_private

AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
TTL_SECONDS = 6 * 3600
CACHE_FORMAT = 1


class Resource(NamedTuple):
    group: str
    version: str
    name: str  # plural, e.g. "deployments"
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    preferred: bool = True  # the group's preferred version

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def kind_prefix(self) -> str:
        """`pod`, `deployment.apps`: how kubectl names the kind in `-o name` and tables."""
        kind = self.kind.lower()
        return f"{kind}.{self.group}" if self.group else kind

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.name}"
        return f"{base}/{name}" if name else base


Fetch = Callable[[str, str], Any]  # (path, accept) -> parsed JSON


def _from_aggregated(doc: dict[str, Any]) -> list[Resource]:
    out: list[Resource] = []
    for group in doc.get("items") or []:
        gname = (group.get("metadata") or {}).get("name", "")
        for i, version in enumerate(group.get("versions") or []):
            for r in version.get("resources") or []:
                kind = (r.get("responseKind") or {}).get("kind", "")
                out.append(
                    Resource(
                        group=gname,
                        version=version.get("version", ""),
                        name=r.get("resource", ""),
                        kind=kind,
                        namespaced=r.get("scope") == "Namespaced",
                        singular=r.get("singularResource") or kind.lower(),
                        short_names=tuple(r.get("shortNames") or ()),
                        categories=tuple(r.get("categories") or ()),
                        verbs=tuple(r.get("verbs") or ()),
                        preferred=i == 0,
                    )
                )
    return out


def _from_resource_list(
    group: str, version: str, doc: dict[str, Any], pref: bool
) -> list[Resource]:
    return [
        Resource(
            group=group,
            version=version,
            name=r["name"],
            kind=r.get("kind", ""),
            namespaced=bool(r.get("namespaced")),
            singular=r.get("singularName") or r.get("kind", "").lower(),
            short_names=tuple(r.get("shortNames") or ()),
            categories=tuple(r.get("categories") or ()),
            verbs=tuple(r.get("verbs") or ()),
            preferred=pref,
        )
        for r in doc.get("resources") or []
        if "/" not in r.get("name", "")
    ]


def fetch_discovery(fetch: Fetch) -> list[Resource]:
    core = fetch("/api", AGGREGATED)
    if core.get("kind") == "APIGroupDiscoveryList":
        # /api's only group has no name; kubectl orders core first
        return _from_aggregated(core) + _from_aggregated(fetch("/apis", AGGREGATED))
    out: list[Resource] = []
    for v in core.get("versions") or []:
        out += _from_resource_list("", v, fetch(f"/api/{v}", "application/json"), True)
    groups = fetch("/apis", "application/json")
    for g in groups.get("groups") or []:
        preferred = (g.get("preferredVersion") or {}).get("version")
        for v in g.get("versions") or []:
            doc = fetch(f"/apis/{v['groupVersion']}", "application/json")
            pref = v["version"] == preferred
            out += _from_resource_list(g["name"], v["version"], doc, pref)
    return out


class DiscoveryCache:
    """One JSON file per server; atomic writes, 0600 in 0700 directories."""

    def __init__(self, cache_dir: Path, host_port: str, now: Callable[[], float] = time.time):
        self.path = cache_dir / "discovery" / host_port.replace(":", "_") / "resources.json"
        self.now = now

    def load(self) -> list[Resource] | None:
        try:
            if self.now() - self.path.stat().st_mtime > TTL_SECONDS:
                return None
            doc = json.loads(self.path.read_bytes())
            if doc.get("format") != CACHE_FORMAT:
                return None
            return [
                Resource(
                    **{
                        **r,
                        "short_names": tuple(r["short_names"]),
                        "categories": tuple(r["categories"]),
                        "verbs": tuple(r["verbs"]),
                    }
                )
                for r in doc["resources"]
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, resources: Sequence[Resource]) -> None:
        rows = [r._asdict() for r in resources]
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
            write_private(self.path, json.dumps({"format": CACHE_FORMAT, "resources": rows}))


class Resolver:
    """Resource names as kubectl's RESTMapper with short-name and category expansion.

    `warn` gets kubectl's warnings (without the `Warning: ` prefix), e.g. a short name
    that several resources claim.
    """

    def __init__(
        self, cache: DiscoveryCache | None, fetch: Fetch, warn: Callable[[str], None] | None = None
    ) -> None:
        self._cache = cache
        self._fetch = fetch
        self._warn = warn
        self._warned: set[str] = set()
        self._resources: list[Resource] | None = None
        self._fresh = False

    def resources(self) -> list[Resource]:
        if self._resources is None:
            cached = self._cache.load() if self._cache else None
            if cached:
                self._resources = cached
            else:
                self._refresh()
        assert self._resources is not None
        return self._resources

    def _refresh(self) -> None:
        self._resources = fetch_discovery(self._fetch)
        self._fresh = True
        if self._cache:
            self._cache.store(self._resources)

    def resolve(self, arg: str, *, warn_again: bool = False) -> list[Resource]:
        """One type argument (`pods`, `deploy.apps`, `all`) → the resource types it means.

        kubectl warns once per type argument of a command (`warn_again`: a second lookup
        of kubectl's that warns again, like describe's search by name prefix).
        """
        found = match(self.resources(), arg)
        if not found and not self._fresh:
            self._refresh()
            found = match(self.resources(), arg)
        if not found:
            raise UsageError(f'error: the server doesn\'t have a resource type "{arg}"')
        if self._warn is not None and (warn_again or arg not in self._warned):
            self._warned.add(arg)
            short = arg.split(".", 1)[0].lower()
            for other in shadowed_short_names(self.resources(), arg):
                self._warn(f'short name "{short}" could also match lower priority resource {other}')
        return found

    def resolve_all(self, args: Iterable[str]) -> list[Resource]:
        out: list[Resource] = []
        for a in args:
            for r in self.resolve(a):
                if r not in out:
                    out.append(r)
        return out


def _candidates(arg: str) -> list[tuple[str, str | None, str | None]]:
    """(resource, version, group) readings of `res`, `res.group`, `res.version.group`."""
    out: list[tuple[str, str | None, str | None]] = []
    parts = arg.split(".", 2)
    if len(parts) == 3:
        out.append((parts[0], parts[1], parts[2]))
    if "." in arg:
        res, group = arg.split(".", 1)
        out.append((res, None, group))
    out.append((arg, None, None))
    return out


def match(resources: Sequence[Resource], arg: str) -> list[Resource]:
    arg = arg.lower()
    for res, version, group in _candidates(arg):
        pool = [
            r
            for r in resources
            if (group is None or r.group == group)
            and (version is None or r.version == version)
            and (version is not None or r.preferred)
        ]
        if not pool:
            continue
        if group is None and version is None:
            # a category like `all` expands to its members, in discovery order
            members = [r for r in pool if res in r.categories]
            if members and not any(_names(r, res) for r in pool):
                return _unique_kinds(members)
        # exact plural/singular/kind names beat short names (kubectl's shortcut expander)
        exact = [r for r in pool if res in (r.name, r.singular, r.kind.lower())]
        if exact:
            return [exact[0]]
        short = [r for r in pool if res in r.short_names]
        if short:
            return [short[0]]
    return []


def _names(r: Resource, res: str) -> bool:
    return res in (r.name, r.singular, r.kind.lower()) or res in r.short_names


def _unique_kinds(rs: list[Resource]) -> list[Resource]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rs:
        if (r.group, r.name) not in seen:
            seen.add((r.group, r.name))
            out.append(r)
    return out


def shadowed_short_names(resources: Sequence[Resource], arg: str) -> list[str]:
    """The other resources a short name could mean, as client-go's shortcut expander warns.

    Only when `arg` is expanded as a short name (it names no resource or singular of any
    version exactly); the first claimant in discovery order wins, each other group/resource
    is named once (`widgets.example.io`), versions of one group/resource are no ambiguity.
    """
    arg = arg.lower()
    res, _, group = arg.partition(".")
    if any(res in (r.name, r.singular) for r in resources if not group or r.group == group):
        return []
    claimants: list[str] = []
    for r in resources:
        if res in r.short_names and (not group or r.group == group):
            long_form = f"{r.name}.{r.group}" if r.group else r.name
            if long_form not in claimants:
                claimants.append(long_form)
    return claimants[1:]

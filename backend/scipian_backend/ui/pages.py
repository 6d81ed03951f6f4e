"""What each dashboard page shows, built from the backend's own use cases with the viewer's
Identity: the same checks, audit lines and RBAC questions as the API routes (the release
pages are releases/queries.py's list, history and status, the environments page is
Backend.environments). No HTTP here; ui/routes.py renders these into templates.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scipian_backend.identity.authn import Identity
from scipian_backend.releases.queries import ReleaseQueries
from scipian_backend.usecases import Backend

ACTIVITY_LIMIT = 100


class Pages:
    def __init__(self, backend: Backend) -> None:
        self._b = backend
        self._releases = ReleaseQueries(backend)

    def environments(self, who: Identity, rid: str) -> list[dict[str, Any]]:
        """The environments `who` may use (`get environments/kubeconfig`), as the API lists them."""
        return self._b.environments(who, rid)

    def environment(self, env_id: str, who: Identity, rid: str) -> dict[str, Any]:
        """Every release of the environment (all namespaces), newest revision each."""
        found = self._releases.list(env_id, who, rid, None)
        rows = sorted(found["items"], key=lambda r: (r["namespace"], r["name"]))
        return {"environment": env_id, "releases": [release_row(r) for r in rows]}

    def release(self, env_id: str, ns: str, name: str, who: Identity, rid: str) -> dict[str, Any]:
        """A release's history, newest first (the redacted rows of `helm history`)."""
        found = self._releases.history(env_id, who, rid, ns, name)
        rows = [release_row(r) for r in reversed(found["items"])]
        return {"environment": env_id, "namespace": ns, "name": name, "history": rows}

    def activity(self, who: Identity, rid: str) -> dict[str, Any]:
        """The Environment Events (issuances, denials, rollbacks) of the environments `who`
        may use; nothing of the others, not even that they had activity."""
        allowed = sorted({e["id"] for e in self._b.environments(who, rid)})
        found: list[dict[str, Any]] = []
        if allowed:
            # Per environment, then the newest of them: the newest N of the whole namespace
            # could all be a flood on an environment this reader may not see.
            with ThreadPoolExecutor(min(8, len(allowed))) as pool:
                for some in pool.map(lambda env: self._recent(env), allowed):
                    found.extend(some)
        found.sort(key=lambda e: str(e.get("lastTimestamp") or ""), reverse=True)
        events = [event_row(e) for e in found[:ACTIVITY_LIMIT]]
        return {"events": events, "environments": allowed}

    def _recent(self, env_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self._b.auditor.recent(ACTIVITY_LIMIT, environment=env_id)
            if (e.get("involvedObject") or {}).get("name") == env_id
        ]


def release_row(r: dict[str, Any]) -> dict[str, Any]:
    """One redacted release record as the pages print it (Helm's columns)."""
    info = r.get("info") or {}
    meta = (r.get("chart") or {}).get("metadata") or {}
    chart = f"{meta.get('name', '')}-{meta.get('version', '')}" if meta else ""
    return {
        "name": r.get("name", ""),
        "namespace": r.get("namespace", ""),
        "revision": r.get("version", 0),
        "updated": _short(info.get("last_deployed") or info.get("first_deployed") or ""),
        "status": info.get("status") or "unknown",
        "chart": chart,
        "app_version": meta.get("appVersion", ""),
        "description": info.get("description") or r.get("error") or "",
    }


def event_row(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": str(e.get("lastTimestamp") or e.get("eventTime") or ""),
        "environment": (e.get("involvedObject") or {}).get("name", ""),
        "type": e.get("type", ""),
        "reason": e.get("reason", ""),
        "count": e.get("count") or 1,
        "message": e.get("message", ""),
    }


def _short(stamp: str) -> str:
    """RFC 3339 with nanoseconds and an offset, as Helm stores it, to the second."""
    return stamp[:19].replace("T", " ") if len(stamp) >= 19 else stamp

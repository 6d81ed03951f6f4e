"""Which approved access request lets a caller have a credential now (change.md §9).

A credential refused by standing RBAC (or, for deploy, by a promotion gate) is issued
under the caller's Approved AccessRequest for that environment and level whose window is
open, the one ending last, once RBAC still lets the caller ask for such a request (`create
environments/request-<level>`, name = env): a grant removed during the window stops
issuance. The requests are found with one label-selected list on mgmt (the labels R's
service writes at creation: user hash, environment, level); the requester's exact name
is confirmed from the spec, since the label is a hash.

The pure parts (choose, token_ttl, deploy_namespaces) have unit tests; `Grants` asks mgmt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from scipian_backend.identity import names
from scipian_backend.identity.authn import Identity
from scipian_backend.identity.authz import Authorizer

APPROVED = "Approved"
LEVELS = ("read", "deploy")

# A label selector → the AccessRequest objects it selects (accessrequests/store.py's list).
Lister = Callable[[str], list[dict[str, Any]]]


class Granted(NamedTuple):
    name: str
    window_end: datetime
    namespaces: tuple[str, ...]  # deploy: as the request names them (empty: all)


def parse_time(text: Any) -> datetime | None:
    """RFC 3339 as the apiserver and the backend write it ("2026-12-07T10:11:52Z")."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def selector(username: str, env_id: str | None, level: str) -> str:
    """The label selector of a user's requests at `level` (on one environment, or all)."""
    parts = [f"{names.USER_HASH_LABEL}={names.user_hash(username)}", f"{names.LEVEL_LABEL}={level}"]
    if env_id is not None:
        parts.append(f"{names.ENVIRONMENT_LABEL}={env_id}")
    return ",".join(parts)


def open_grant(obj: dict[str, Any], user: str, level: str, now: datetime) -> Granted | None:
    """The request as a grant when it is the user's, at `level`, Approved, not being
    deleted, and its window (status.expiresAt) has not ended at `now`."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    requester = spec.get("requester") or {}
    if not isinstance(meta, dict) or not isinstance(spec, dict) or not isinstance(status, dict):
        return None
    if meta.get("deletionTimestamp") or not isinstance(requester, dict):
        return None
    if requester.get("user") != user or spec.get("level") != level:
        return None
    if status.get("phase") != APPROVED:
        return None
    end = parse_time(status.get("expiresAt"))
    name = meta.get("name")
    if end is None or end <= now or not isinstance(name, str) or not name:
        return None
    namespaces = spec.get("namespaces") or []
    if not isinstance(namespaces, list):
        return None
    return Granted(name, end, tuple(str(n) for n in namespaces))


def choose(
    items: Iterable[dict[str, Any]], user: str, env_id: str, level: str, now: datetime
) -> Granted | None:
    """Of the user's open grants for (env, level), the one whose window ends last."""
    found = [
        g
        for obj in items
        if (obj.get("spec") or {}).get("environment") == env_id
        and (g := open_grant(obj, user, level, now)) is not None
    ]
    return max(found, key=lambda g: (g.window_end, g.name), default=None)


def open_environments(
    items: Iterable[dict[str, Any]], user: str, level: str, now: datetime
) -> set[str]:
    """The environments of the user's open grants at `level`."""
    envs = set()
    for obj in items:
        env = (obj.get("spec") or {}).get("environment")
        if isinstance(env, str) and open_grant(obj, user, level, now) is not None:
            envs.add(env)
    return envs


def token_ttl(level_ttl: int, window_end: datetime, now: datetime, floor: int) -> int:
    """min(the level's TTL, what the window has left), never under `floor` (the worker
    deletes the sessions at the window's end, whatever the token's lifetime)."""
    left = int((window_end - now).total_seconds())
    return max(floor, min(level_ttl, left))


def deploy_namespaces(asked: tuple[str, ...], env_namespaces: tuple[str, ...]) -> tuple[str, ...]:
    """The request's namespaces that the Environment still deploys to (all of them when the
    request names none), in the Environment's order."""
    if not asked:
        return tuple(env_namespaces)
    wanted = set(asked)
    return tuple(ns for ns in env_namespaces if ns in wanted)


class Grants:
    def __init__(
        self,
        authorizer: Authorizer,
        list_requests: Lister,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._authz = authorizer
        self._list = list_requests
        self._clock = clock

    def may_request(self, who: Identity, env_id: str, level: str) -> bool:
        """RBAC lets `who` ask for access at `level` on env_id (name = env)."""
        return self._authz.allowed(who, env_id, "create", f"request-{level}")

    def grant_for(
        self, who: Identity, env_id: str, level: str, now: datetime | None = None
    ) -> Granted | None:
        """The caller's open grant for (env, level), or None; one list on mgmt, and one
        SubjectAccessReview only when a request was found."""
        if level not in LEVELS:
            return None
        when = now or self._clock()
        found = choose(
            self._list(selector(who.username, env_id, level)), who.username, env_id, level, when
        )
        if found is None or not self.may_request(who, env_id, level):
            return None
        return found

    def readable(self, who: Identity, now: datetime | None = None) -> set[str]:
        """The environments of the caller's open read grants (one list for all of them;
        then RBAC is asked, per environment found, whether the grant still stands)."""
        when = now or self._clock()
        envs = open_environments(
            self._list(selector(who.username, None, "read")), who.username, "read", when
        )
        return {e for e in sorted(envs) if self.may_request(who, e, "read")}

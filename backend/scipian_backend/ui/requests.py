"""The dashboard's access requests (change.md §9): the requests page (mine, and those I may
decide), one request's record with its window counting down, the form that asks for access
(on an environment's page and on the requests page), and approve, deny, revoke and cancel.

Everything goes through the backend's access request service (`Backend.access_requests`)
with the viewer's Identity: the same SubjectAccessReviews, step-up, caps, audit lines and
Events as the API routes. Whether a button shows is decided here from the same facts the
service checks (phase, requester, `create environments/approve`); the service still decides
the POST. A request holds names, reasons and times only: nothing secret is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from scipian_backend import kube
from scipian_backend.accessrequests.bodies import create_request
from scipian_backend.config import DEFAULT_MAX_ACCESS, valid_env_id
from scipian_backend.environments.store import Environment
from scipian_backend.errors import BadRequest, ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.usecases import Backend

LEVELS = ("read", "deploy")
DECIDABLE = ("Pending",)
REVOCABLE = ("Pending", "Approved")
OPEN = ("Pending", "Approved")  # phases whose expiresAt is still ahead (polling, countdown)
# What the form offers; the service refuses any beyond the environment's maxAccessSeconds.
DURATIONS = (900, 1800, 3600, 7200, 14400, 28800, 86400)
RECENT = 20  # requests on the activity page
SHOWN = 200  # requests on the requests page, newest first (the API lists them all)
MAX_NAMESPACES = 64
# The dashboard's actions on a request -> the service's method of the same name.
ACTIONS = {"approve": "approve", "deny": "deny", "revoke": "revoke", "cancel": "cancel"}
DONE = {"approve": "approved", "deny": "denied", "revoke": "revoked", "cancel": "cancelled"}
# The class's `list` method shadows the builtin inside it: these name the types.
Objects = list[dict[str, Any]]
Rows = list[dict[str, Any]]
Asks = list[tuple[Environment, str, bool]]  # (environment, level, already allowed)


class RequestPages:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def _service(self) -> Any:
        if self._b.access_requests is None:
            raise ServiceUnavailable("access requests are not configured")
        return self._b.access_requests

    # --- pages ---------------------------------------------------------------------------

    def list(self, who: Identity, rid: str, now: datetime | None = None) -> dict[str, Any]:
        """Mine, and the others I see (those of environments I may approve), newest first,
        with what I may ask for."""
        now = now or _utcnow()
        found = self._service().list(who, rid)["items"]
        items = sorted(found, key=_created, reverse=True)[:SHOWN]
        rows = self._rows(items, who, now)
        return {
            "mine": [r for r in rows if r["requester"] == who.username],
            "others": [r for r in rows if r["requester"] != who.username],
            **self.askable(who),
        }

    def one(
        self, name: str, who: Identity, rid: str, now: datetime | None = None
    ) -> dict[str, Any]:
        now = now or _utcnow()
        [row] = self._rows([self._service().get(name, who, rid)], who, now)
        return {"request": row}

    def state(
        self, name: str, who: Identity, rid: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """What the page's script updates: the phase and the seconds left (same RBAC)."""
        now = now or _utcnow()
        obj = self._service().get(name, who, rid)
        status = obj.get("status") or {}
        return {
            "name": name,
            "phase": str(status.get("phase") or ""),
            "remaining": seconds_left(status, now),
        }

    def recent(self, who: Identity, rid: str, now: datetime | None = None) -> dict[str, Any]:
        """The activity page's requests: those I see, latest change first."""
        now = now or _utcnow()
        if self._b.access_requests is None:
            return {"requests": []}
        items = self._service().list(who, rid)["items"]
        items.sort(key=_changed, reverse=True)
        return {"requests": self._rows(items[:RECENT], who, now)}

    def ask_here(self, env_id: str, who: Identity) -> dict[str, Any]:
        """The request form of an environment's page: the levels I may ask for there."""
        levels = [lvl for lvl in LEVELS if self._may_request(who, env_id, lvl)]
        if not levels:
            return {"ask": None}
        env = self._b.store.get(env_id)
        return {
            "ask": {
                "environment": env_id,
                "levels": levels,
                "namespaces": _deploy_namespaces(env),
                "durations": durations(_max_access(env)),
            }
        }

    def askable(self, who: Identity) -> dict[str, Any]:
        """Every environment where I may ask for a level, for the requests page's form. With
        the RBAC index: per level one review without a name, else one per environment my
        bindings name (as the listing asks); without it, one per environment and level."""
        pairs = self._ask_candidates(who)
        if not pairs:
            return {"askable": [], "durations": durations(DEFAULT_MAX_ACCESS)}
        with ThreadPoolExecutor(min(8, len(pairs))) as pool:
            allowed = list(pool.map(lambda p: p[2] or self._may_request(who, p[0].id, p[1]), pairs))
        by_env: dict[str, list[str]] = {}
        envs: dict[str, Environment] = {}
        for (e, lvl, _), ok in zip(pairs, allowed, strict=True):
            if ok:
                by_env.setdefault(e.id, []).append(lvl)
                envs[e.id] = e
        top = max([_max_access(e) for e in envs.values()] or [DEFAULT_MAX_ACCESS])
        return {
            "askable": [{"environment": k, "levels": v} for k, v in sorted(by_env.items())],
            "durations": durations(top),
        }

    def _ask_candidates(self, who: Identity) -> Asks:
        """(environment, level, already allowed) to confirm, level by level in LEVELS order
        (so each environment's levels come out in that order)."""
        index = self._b.rbac_index
        if index is None or not index.ready():
            return [(e, lvl, False) for e in self._b.store.list() for lvl in LEVELS]
        found: Asks = []
        every: Sequence[Environment] | None = None
        for lvl in LEVELS:
            question = ("create", f"request-{lvl}")
            if self._b.authorizer.allowed(who, "", *question):
                every = every if every is not None else self._b.all_environments()
                found += [(e, lvl, True) for e in every]
                continue
            for name in sorted(index.reach(who, question).names):
                env = self._b.environment(name) if valid_env_id(name) else None
                if env is not None:
                    found.append((env, lvl, False))
        return found

    # --- actions -------------------------------------------------------------------------

    def create(
        self,
        env_id: str,
        level: str,
        duration: str,
        justification: str,
        namespaces: str,
        who: Identity,
        rid: str,
    ) -> str:
        """Asks for access as `who`; returns the new request's name."""
        # The API's body, checked by the API's own rules (accessrequests/bodies.py).
        asked = create_request(form_body(level, duration, justification, namespaces))
        created = self._service().create(env_id, asked, who, rid)
        return str((created.get("metadata") or {}).get("name") or "")

    def act(self, kind: str, name: str, justification: str, who: Identity, rid: str) -> None:
        """approve, deny, revoke or cancel, by the service (its checks, its step-up)."""
        getattr(self._service(), ACTIONS[kind])(name, justification, who, rid)

    # --- helpers -------------------------------------------------------------------------

    def _may_request(self, who: Identity, env_id: str, level: str) -> bool:
        return bool(self._b.authorizer.allowed(who, env_id, "create", f"request-{level}"))

    def _rows(self, items: Objects, who: Identity, now: datetime) -> Rows:
        """Rows with the buttons `who` gets; one approve question per environment."""
        envs = sorted({_spec(o).get("environment", "") for o in items} - {""})
        approver: dict[str, bool] = {}
        if envs:
            with ThreadPoolExecutor(min(8, len(envs))) as pool:
                answers = pool.map(lambda e: bool(self._b.authorizer.may_approve(who, e)), envs)
                approver = dict(zip(envs, answers, strict=True))
        return [
            row(o, who.username, approver.get(_spec(o).get("environment", "")), now) for o in items
        ]


def row(obj: dict[str, Any], user: str, may_approve: bool | None, now: datetime) -> dict[str, Any]:
    """One request as the pages show it, and which buttons `user` gets (pure)."""
    spec = _spec(obj)
    status = obj.get("status") or {}
    phase = str(status.get("phase") or "")
    requester = str((spec.get("requester") or {}).get("user") or "")
    approvals = [
        {
            "user": str(a.get("user") or ""),
            "time": str(a.get("time") or ""),
            "justification": str(a.get("justification") or ""),
        }
        for a in status.get("approvals") or []
    ]
    decision = status.get("decision") or {}
    mine = requester == user
    approved_by_me = any(a["user"] == user for a in approvals)
    approver = bool(may_approve) and not mine
    left = seconds_left(status, now)
    return {
        "name": str((obj.get("metadata") or {}).get("name") or ""),
        "environment": str(spec.get("environment") or ""),
        "level": str(spec.get("level") or ""),
        "namespaces": [str(n) for n in spec.get("namespaces") or []],
        "duration": spec.get("durationSeconds") or 0,
        "duration_text": span(int(spec.get("durationSeconds") or 0)),
        "justification": str(spec.get("justification") or ""),
        "requester": requester,
        "groups": [str(g) for g in (spec.get("requester") or {}).get("groups") or []],
        "phase": phase,
        "created": _created(obj)[0],
        "required": status.get("approvalsRequired") or 0,
        "approvals": approvals,
        "decision": {
            "user": str(decision.get("user") or ""),
            "time": str(decision.get("time") or ""),
            "justification": str(decision.get("justification") or ""),
        }
        if decision
        else None,
        "approved_at": str(status.get("approvedAt") or ""),
        "expires_at": str(status.get("expiresAt") or ""),
        "ended_at": str(status.get("endedAt") or ""),
        "last_transition": str(status.get("lastTransition") or ""),
        "message": str(status.get("message") or ""),
        "remaining": left,
        "remaining_text": "" if left is None else span(left),
        "can_approve": approver and phase in DECIDABLE and not approved_by_me,
        "can_deny": approver and phase in DECIDABLE,
        "can_revoke": approver and phase in REVOCABLE,
        "can_cancel": mine and phase in REVOCABLE,
    }


def seconds_left(status: dict[str, Any], now: datetime) -> int | None:
    """Seconds to expiresAt (the window's end once Approved, the pending deadline before),
    for the phases still open; None otherwise."""
    if status.get("phase") not in OPEN:
        return None
    end = kube.parse_stamp(status.get("expiresAt"))
    if end is None:
        return None
    return max(0, int((end - now).total_seconds()))


def span(seconds: int) -> str:
    """A duration as people say it: `45 s`, `29 min 59 s`, `1 h 05 min`, `2 d 3 h`."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if s else f"{minutes} min"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {m:02d} min" if m else f"{hours} h"
    days, h = divmod(hours, 24)
    return f"{days} d {h} h" if h else f"{days} d"


def durations(top: int) -> list[tuple[int, str]]:
    """The form's choices, up to `top` seconds (the environment's maxAccessSeconds)."""
    found = [(d, span(d)) for d in DURATIONS if d <= top]
    return found or [(top, span(top))]


def form_body(level: str, duration: str, justification: str, namespaces: str) -> dict[str, Any]:
    """The API's create body from the form's fields (pure); the service checks the rest."""
    if level not in LEVELS:
        raise BadRequest('level must be "read" or "deploy"')
    if not duration.isdigit() or len(duration) > 7:
        raise BadRequest("duration must be a number of seconds")
    body: dict[str, Any] = {
        "level": level,
        "durationSeconds": int(duration),
        "justification": justification,
    }
    names = [n for n in namespaces.replace(",", " ").split() if n]
    if names:
        if level != "deploy":
            raise BadRequest("namespaces are for deploy requests only")
        if len(names) > MAX_NAMESPACES:
            raise BadRequest(f"at most {MAX_NAMESPACES} namespaces")
        body["namespaces"] = sorted(set(names))
    return body


def _deploy_namespaces(env: Environment | None) -> list[str]:
    if env is None or env.deploy is None:
        return []
    return [str(n) for n in env.deploy.namespaces]


def _max_access(env: Environment | None) -> int:
    return env.max_access_seconds if env is not None else DEFAULT_MAX_ACCESS


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _created(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def _changed(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    return (str(status.get("lastTransition") or _created(obj)[0]), _created(obj)[1])


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)

"""The dashboard's promotion pages: the list with each promotion's per-environment progress
strip, one promotion's full record, the strip's live state (polled by ui/static/
promotions.js), and approving a step. All through the backend's promotion use cases
(promotions/service.py) with the viewer's Identity: reading is RBAC on `promotions`, an
approval is the API's (RBAC `create environments/approve`, never the initiator, once per
user, a step-up login, a justification).

Whether a step shows an Approve button is decided here from the same facts the backend
checks (RBAC, initiator, phases, earlier approvals); the backend still decides the POST.
"""

from __future__ import annotations

from typing import Any

from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.promotions import records as r
from scipian_backend.usecases import Backend

APPROVABLE = ("Pending", "AwaitingApproval")


class PromotionPages:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def _service(self) -> Any:
        if self._b.promotions is None:
            raise ServiceUnavailable("promotions are not configured")
        return self._b.promotions

    def list(self, who: Identity, rid: str) -> dict[str, Any]:
        found = self._service().list(who, rid)
        items = sorted(found["items"], key=_created, reverse=True)
        return {"promotions": [summary(p) for p in items]}

    def one(self, name: str, who: Identity, rid: str) -> dict[str, Any]:
        promo = self._service().get(name, who, rid)
        row = summary(promo)
        steps = []
        for step in r.steps_of(promo):
            steps.append({**step_row(step), "can_approve": self._may_approve(promo, step, who)})
        return {"promotion": row, "steps": steps, "spec": promo.get("spec", {})}

    def state(self, name: str | None, who: Identity, rid: str) -> dict[str, Any]:
        """What the strips show, for polling: one promotion, or every one the viewer lists."""
        if name:
            return {"items": [strip(self._service().get(name, who, rid))]}
        return {"items": [strip(p) for p in self._service().list(who, rid)["items"]]}

    def approve(self, name: str, env_id: str, justification: str, who: Identity, rid: str) -> None:
        self._service().approve(name, env_id, justification, who, rid)

    def _may_approve(self, promo: dict[str, Any], step: dict[str, Any], who: Identity) -> bool:
        if r.finished(promo) or step.get("phase") not in APPROVABLE:
            return False
        if who.username == r.initiator(promo):
            return False
        if any(a.get("user") == who.username for a in step.get("approvals") or []):
            return False
        if len(step.get("approvals") or []) >= int(step.get("approvalsRequired") or 0):
            return False  # nothing to approve there
        return bool(self._b.authorizer.may_approve(who, str(step.get("environment"))))


def _created(p: dict[str, Any]) -> tuple[str, str]:
    meta = p.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def strip(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": (p.get("metadata") or {}).get("name", ""),
        "phase": r.phase(p),
        "steps": [
            {"environment": s.get("environment", ""), "phase": s.get("phase", "")}
            for s in r.steps_of(p)
        ],
    }


def summary(p: dict[str, Any]) -> dict[str, Any]:
    spec = p.get("spec") or {}
    chart = spec.get("chart") or {}
    return {
        **strip(p),
        "release": spec.get("release", ""),
        "namespace": spec.get("namespace", ""),
        "chart": f"{chart.get('name', '')}-{chart.get('version', '')}",
        "initiator": (spec.get("initiator") or {}).get("user", ""),
        "justification": spec.get("justification", ""),
        "created": _created(p)[0],
        "message": r.status_of(p).get("message", ""),
    }


def step_row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "environment": s.get("environment", ""),
        "phase": s.get("phase", ""),
        "required": s.get("approvalsRequired") or 0,
        "approvals": s.get("approvals") or [],
        "revision": s.get("revision"),
        "previous": s.get("previousRevision"),
        "started": s.get("startedAt") or "",
        "verified": s.get("verifiedAt") or "",
        "finished": s.get("finishedAt") or "",
        "message": s.get("message") or "",
    }

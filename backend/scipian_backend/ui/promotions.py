"""The dashboard's promotion pages: the list with each promotion's per-environment progress
strip, one promotion's full record (who, what, where, when, why, approved by whom, executed
by which replica), a step's diff, the strip's live state (polled by ui/static/
promotions.js), approving a step and cancelling a promotion. All through the backend's
promotion use cases with the viewer's Identity: reading is RBAC on `promotions`, the diff is
the API's (approvers of the step, the initiator with `get environments/releases`), an
approval is the API's (RBAC `create environments/approve`, never the initiator, once per
user, a step-up login, a justification, the digest of the diff the approver read), a cancel
is the API's (the initiator, whoever may deploy to every environment of the chain, or
`update` on `promotions/cancel`).

Whether a step shows an Approve button, or the promotion a Cancel button, is decided here
from the same facts the backend checks; the backend still decides the POST. Only the
backend's classified reasons and digests are shown: a promotion holds nothing of helm's
output, values or Secret data, and the diff holds key names and `present` only.
"""

from __future__ import annotations

from typing import Any

from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.promotions import records as r
from scipian_backend.usecases import Backend

APPROVABLE = ("Pending", "AwaitingApproval")
FINISHED = ("Succeeded", "Failed", "Cancelled")


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
        steps = [
            {**step_row(s), "can_approve": self._may_approve(promo, s, who)}
            for s in r.steps_of(promo)
        ]
        return {
            "promotion": summary(promo),
            "record": record(promo),
            "steps": steps,
            "can_cancel": self._may_cancel(promo, who),
        }

    def diff(self, name: str, env_id: str, who: Identity, rid: str) -> dict[str, Any]:
        """A step's diff (the API's, same authorization), and whether to offer approving it."""
        diffs = self._b.diffs  # promotions/diff_routes.py's StepDiffs
        if diffs is None:
            raise ServiceUnavailable("promotion diffs are not configured")
        found = diffs.read(name, env_id, who, rid)  # its authorization first
        promo = self._service().get(name, who, rid)
        [step] = [s for s in r.steps_of(promo) if s.get("environment") == env_id] or [{}]
        return {
            "promotion": summary(promo),
            "step": step_row(step or {"environment": env_id}),
            "diff": diff_view(found),
            "can_approve": bool(step) and self._may_approve(promo, step, who),
        }

    def state(self, name: str | None, who: Identity, rid: str) -> dict[str, Any]:
        """What the strips show, for polling: one promotion, or every one the viewer lists."""
        if name:
            return {"items": [strip(self._service().get(name, who, rid))]}
        return {"items": [strip(p) for p in self._service().list(who, rid)["items"]]}

    def approve(
        self, name: str, env_id: str, justification: str, digest: str, who: Identity, rid: str
    ) -> None:
        self._service().approve(name, env_id, justification, digest, who, rid)

    def cancel(self, name: str, justification: str, who: Identity, rid: str) -> None:
        self._service().cancel(name, justification, who, rid)

    def _may_approve(self, promo: dict[str, Any], step: dict[str, Any], who: Identity) -> bool:
        if r.phase(promo) in FINISHED or step.get("phase") not in APPROVABLE:
            return False
        if who.username == r.initiator(promo):
            return False
        if any(a.get("user") == who.username for a in step.get("approvals") or []):
            return False
        if len(step.get("approvals") or []) >= int(step.get("approvalsRequired") or 0):
            return False  # nothing to approve there
        return bool(self._b.authorizer.may_approve(who, str(step.get("environment"))))

    def _may_cancel(self, promo: dict[str, Any], who: Identity) -> bool:
        if r.phase(promo) in FINISHED or r.status_of(promo).get("cancelRequest"):
            return False
        if who.username == r.initiator(promo):
            return True
        authz = self._b.authorizer
        name = (promo.get("metadata") or {}).get("name", "")
        if authz.allowed_on(who, "update", "promotions", name, "cancel"):
            return True
        through = [str(e) for e in (promo.get("spec") or {}).get("through") or []]
        return bool(through) and all(authz.may_deploy(who, e) for e in through)


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


def what(spec: dict[str, Any]) -> str:
    """What is promoted: a chart's name and version, or a rollback to a revision."""
    if spec.get("rollbackTo") is not None:
        glass = " (break-glass)" if spec.get("breakGlass") else ""
        return f"rollback to revision {spec.get('rollbackTo')}{glass}"
    chart = spec.get("chart") or {}
    return f"{chart.get('name', '')}-{chart.get('version', '')}"


def summary(p: dict[str, Any]) -> dict[str, Any]:
    spec = p.get("spec") or {}
    return {
        **strip(p),
        "release": spec.get("release", ""),
        "namespace": spec.get("namespace", ""),
        "chart": what(spec),
        "initiator": (spec.get("initiator") or {}).get("user", ""),
        "justification": spec.get("justification", ""),
        "created": _created(p)[0],
        "message": r.status_of(p).get("message", ""),
    }


def record(p: dict[str, Any]) -> dict[str, Any]:
    """Who, what, where, when, why of one promotion, as the backend recorded them."""
    spec = p.get("spec") or {}
    status = r.status_of(p)
    cancel = status.get("cancelRequest") or {}
    values = spec.get("valuesDigests") or {}
    return {
        "chart_digest": (spec.get("chart") or {}).get("digest", ""),
        "through": [str(e) for e in spec.get("through") or []],
        "values": sorted((str(k), str(v)) for k, v in values.items()),
        "soak": spec.get("soakSeconds") or 0,
        "timeout": spec.get("timeoutSeconds") or 0,
        "groups": list((spec.get("initiator") or {}).get("groups") or []),
        "executed_by": status.get("executedBy", ""),
        "last_transition": status.get("lastTransition", ""),
        "cancel": {
            "user": cancel.get("user", ""),
            "justification": cancel.get("justification", ""),
            "time": cancel.get("time", ""),
            "reason": cancel.get("reason", ""),
        }
        if cancel
        else None,
    }


def step_row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "environment": s.get("environment", ""),
        "phase": s.get("phase", ""),
        "required": s.get("approvalsRequired") or 0,
        "approvals": [
            {
                "user": a.get("user", ""),
                "time": a.get("time", ""),
                "justification": a.get("justification", ""),
                "digest": a.get("diffDigest", ""),
            }
            for a in s.get("approvals") or []
        ],
        "render_digest": s.get("renderDigest") or "",
        "manifest_digest": s.get("manifestDigest") or "",
        "config_digest": s.get("configDigest") or "",
        "revision": s.get("revision"),
        "previous": s.get("previousRevision"),
        "awaiting": s.get("awaitingSince") or "",
        "started": s.get("startedAt") or "",
        "verified": s.get("verifiedAt") or "",
        "finished": s.get("finishedAt") or "",
        "executed_by": s.get("executedBy") or "",
        "recovery": s.get("recovery") or "",
        "message": s.get("message") or "",
    }


def diff_view(found: dict[str, Any]) -> dict[str, Any]:
    """The API's diff (change.md §6) as the page shows it. Only its named fields are taken:
    kinds, names, images, replicas, field paths and key names; a Secret is `present`."""
    objects = []
    for o in found.get("objects") or []:
        secret = o.get("kind") == "Secret"
        # A Secret is shown `present` only, never its keys, even if the data named some.
        keys = {} if secret else o.get("keys") or {}
        replicas = o.get("replicas") or None
        objects.append(
            {
                "kind": str(o.get("kind", "")),
                "namespace": str(o.get("namespace", "")),
                "name": str(o.get("name", "")),
                "change": str(o.get("change", "")),
                "hook": bool(o.get("hook")),
                "secret": secret,
                "images": [
                    (str(i.get("container", "")), str(i.get("old") or ""), str(i.get("new") or ""))
                    for i in o.get("images") or []
                ],
                "replicas": (replicas.get("old"), replicas.get("new")) if replicas else None,
                "fields": [str(f) for f in o.get("fields") or []],
                "keys": {
                    part: [str(k) for k in keys.get(part) or []]
                    for part in ("added", "removed", "changed")
                    if keys.get(part)
                },
            }
        )
    return {
        "environment": str(found.get("environment", "")),
        "digest": str(found.get("digest", "")),
        "objects": objects,
    }

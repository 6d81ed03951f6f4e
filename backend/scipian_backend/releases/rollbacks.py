"""Use case: the audit of a Helm rollback the plugin runs (docs/api.md, "Rollbacks").

`POST .../releases/{ns}/{name}/rollbacks` with the phase `started` (before the plugin runs
helm: what it declares, from and to revisions) and `finished` (afterwards, with helm's exit
code). On `finished` the backend reads the release record itself and records what
actually happened: the newest revision, its status, and whether it is a rollback to the
declared revision (Helm's description "Rollback to N"). Each phase writes an audit line
and an Event on the Environment.

Checks: ids → body (`breakGlass` is refused: 400) → authentication (and the user's write
bucket, ratelimit.py) → RBAC `create environments/deploy` → existence → the environment
offers a deploy level without a promotion gate (else 403 `PromotionRequired`: on a gated
environment a rollback is a one-step promotion `rollbackTo` the backend executes, with or
without break-glass, change.md §7) → the namespace is one it deploys to
(`spec.deploy.namespaces`, else 403) → the release has a record there (else 404).
No step-up: the deploy credential that helm uses already needed a fresh login, and
`finished` may come after a long `--wait`, when that login is no longer fresh; an audit
record grants nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scipian_backend.audit.records import Record
from scipian_backend.config import valid_env_id
from scipian_backend.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PromotionRequired,
    ServiceUnavailable,
)
from scipian_backend.http.bodies import check_justification, unknown_fields
from scipian_backend.releases import records
from scipian_backend.releases.reader import DRIVERS
from scipian_backend.usecases import Audit, Backend, gate_message

PHASES = ("started", "finished")
FIELDS = {"justification", "fromRevision", "toRevision", "phase", "helmExitCode"}
NO_BREAK_GLASS = (
    "breakGlass: a rollback on a gated environment is a promotion now "
    "(POST /api/v1/promotions with rollbackTo and breakGlass)"
)
MAX_REVISION = 2**31 - 1


class RollbackReport(NamedTuple):
    justification: str
    from_revision: int
    to_revision: int
    phase: str
    helm_exit_code: int | None


def _whole(value: object) -> int | None:
    """A JSON integer: 3, or 3.0 (JSON Schema's "integer" is any number without a
    fraction); never a bool, which Python counts as an int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _revision(doc: dict[str, Any], key: str) -> int:
    value = _whole(doc.get(key))
    if value is None or not 1 <= value <= MAX_REVISION:
        raise BadRequest(f"{key} must be a revision number (a positive integer)")
    return value


def rollback_report(doc: dict[str, Any]) -> RollbackReport:
    """The request body, checked (pure)."""
    if "breakGlass" in doc:  # before anything else: the one field version 2 took away
        raise BadRequest(NO_BREAK_GLASS)
    unknown_fields(doc, FIELDS)
    phase = doc.get("phase")
    if phase not in PHASES:
        raise BadRequest('phase must be "started" or "finished"')
    code = _whole(doc.get("helmExitCode"))
    if phase == "finished":
        if code is None or not 0 <= code <= 255:
            raise BadRequest("helmExitCode must be an exit code (0..255) when finished")
    elif "helmExitCode" in doc:
        raise BadRequest("helmExitCode is only for phase finished")
    return RollbackReport(
        check_justification(doc.get("justification")),
        _revision(doc, "fromRevision"),
        _revision(doc, "toRevision"),
        phase,
        code,
    )


def outcome_of(report: RollbackReport, latest: dict[str, Any] | None) -> dict[str, Any]:
    """What the release record says happened (pure): on `finished`, the newest revision,
    its status and description, and whether it is the declared rollback."""
    if latest is None:
        return {"revision": None, "status": None, "description": None, "rolledBack": False}
    info = latest.get("info") or {}
    description = info.get("description")
    revision = latest.get("version")
    rolled_back = (
        isinstance(revision, int)
        and revision > report.from_revision
        and description == f"Rollback to {report.to_revision}"
    )
    return {
        "revision": revision,
        "status": info.get("status"),
        "description": description,
        "rolledBack": rolled_back,
    }


class Rollbacks:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def report(
        self,
        env_id: str,
        authorization: str | None,
        request_id: str,
        namespace: str,
        name: str,
        report: RollbackReport,
    ) -> dict[str, Any]:
        b = self._b
        if not valid_env_id(env_id):
            raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")
        audit = Audit(request_id, env_id, "deploy", report.justification)
        who = b._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        if not b.authorizer.may_deploy(who, env_id):
            b._deny(audit, who, "forbidden", "RBAC denied (rollback)")
            raise Forbidden(f"{who.username} may not deploy to environment {env_id}")
        env, _ = b._lookup(env_id)
        if env is None:
            b._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        if env.deploy is None:
            b._deny(audit, who, "forbidden", "no deploy level", env.uid)
            raise Forbidden(f"{who.username} may not deploy to environment {env_id}")
        if env.deploy.gated:
            message = gate_message(env)
            b._deny(audit, who, "forbidden", message, env.uid)
            raise PromotionRequired(message)
        # Only what this environment deploys, and only a release that is there: a record
        # for anything else is a false alarm (a BreakGlass Event, a rollback Event) at best.
        if namespace not in env.deploy.namespaces:
            why = f"{env_id} does not deploy to namespace {namespace}"
            b._deny(audit, who, "forbidden", why, env.uid)
            raise Forbidden(why)
        if b.release_reader is None:
            raise ServiceUnavailable("release reading is not configured")
        found = b.release_reader.records(env, namespace, name, DRIVERS)
        found = [r for r in found if records.release_name(r) == name]
        if not found:
            b._deny(audit, who, "not_found", "no such release (rollback)", env.uid)
            raise NotFound(f"no release {name} in namespace {namespace} of environment {env_id}")
        result: dict[str, Any] | None = None
        if report.phase == "finished":
            newest = max(found, key=records.revision, default=None)
            result = outcome_of(report, records.summary(newest) if newest else None)
        b.auditor.record(
            Record(
                event="rollback",
                request_id=request_id,
                outcome=report.phase,
                environment=env_id,
                user=who.username,
                groups=who.groups,
                level="deploy",
                justification=report.justification,
                auth_time=who.auth_time,
                rollback={
                    "release": f"{namespace}/{name}",
                    "fromRevision": report.from_revision,
                    "toRevision": report.to_revision,
                    "helmExitCode": report.helm_exit_code,
                    "result": result,
                },
            ),
            env.uid,
        )
        answer: dict[str, Any] = {
            "environment": env_id,
            "namespace": namespace,
            "name": name,
            "user": who.username,
            "phase": report.phase,
            "fromRevision": report.from_revision,
            "toRevision": report.to_revision,
        }
        if result is not None:
            answer["result"] = result
        return answer

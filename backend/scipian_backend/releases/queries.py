"""Use cases of the release read path: list, history, status (docs/api.md).

The order of checks is the kubeconfig endpoint's: ids → authentication → RBAC
(SubjectAccessReview `get environments/releases`) → existence → the target. A caller
learns whether an environment exists only once RBAC allows it.
"""

from __future__ import annotations

import re
from typing import Any

from scipian_backend.audit.records import Record as AuditRecord
from scipian_backend.audit.records import audit_logger
from scipian_backend.config import valid_env_id
from scipian_backend.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.ratelimit import READ
from scipian_backend.releases import records
from scipian_backend.releases.reader import DRIVERS
from scipian_backend.usecases import Audit, Backend, Caller

# Helm's release name rule (pkg/chart/common/util: a DNS-1123 subdomain, at most 53).
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_MAX = 256


def check_namespace(ns: str) -> str:
    if not NAMESPACE.fullmatch(ns) or len(ns) > 63:
        raise BadRequest("namespace must be a DNS-1123 label")
    return ns


def check_release(name: str) -> str:
    if not RELEASE_NAME.fullmatch(name) or len(name) > 53:
        raise BadRequest("release name must be a DNS-1123 subdomain of at most 53 characters")
    return name


def check_drivers(driver: str | None) -> tuple[str, ...]:
    """Helm's HELM_DRIVER names; none: both drivers (Helm reads one, Scipian both)."""
    if driver in (None, ""):
        return DRIVERS
    names = {"secret": "secret", "secrets": "secret", "configmap": "configmap"}
    names["configmaps"] = "configmap"
    if driver not in names:
        raise BadRequest("driver must be secret or configmap")
    return (names[driver],)


class ReleaseQueries:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def list(
        self,
        env_id: str,
        authorization: Caller,
        request_id: str,
        namespace: str | None,
        driver: str | None = None,
    ) -> dict[str, Any]:
        """The latest record of every release in `namespace` (None: all namespaces)."""
        drivers = check_drivers(driver)
        env, reader = self._allowed(env_id, authorization, request_id, "list")
        found = reader.records(env, namespace, None, drivers)
        items = [records.summary(r) for r in _one_driver_each(records.latest_per_release(found))]
        return {"environment": env_id, "items": items}

    def history(
        self,
        env_id: str,
        authorization: Caller,
        request_id: str,
        namespace: str,
        name: str,
        max_items: int = DEFAULT_MAX,
        driver: str | None = None,
    ) -> dict[str, Any]:
        """The newest `max_items` revisions of a release, oldest first (as Helm prints)."""
        drivers = check_drivers(driver)
        env, reader = self._allowed(env_id, authorization, request_id, "history")
        found = reader.records(env, namespace, name, drivers)
        found = [r for r in found if records.release_name(r) == name]
        newest = sorted(_one_driver_each_revision(found), key=records.revision, reverse=True)
        chosen = newest[: max(max_items, 0)]
        return {"environment": env_id, "items": [records.summary(r) for r in reversed(chosen)]}

    def status(
        self,
        env_id: str,
        authorization: Caller,
        request_id: str,
        namespace: str,
        name: str,
        revision: int = 0,
        driver: str | None = None,
    ) -> dict[str, Any]:
        """One revision (0: the highest) of a release; `release` null when there is none."""
        drivers = check_drivers(driver)
        env, reader = self._allowed(env_id, authorization, request_id, "status")
        found = reader.records(env, namespace, name, drivers)
        found = [r for r in found if records.release_name(r) == name]
        if revision:
            found = [r for r in found if records.revision(r) == revision]
        chosen = max(_one_driver_each_revision(found), key=records.revision, default=None)
        release = records.summary(chosen) if chosen is not None else None
        return {"environment": env_id, "release": release}

    # --- the contract's checks --------------------------------------------------------------

    def _allowed(
        self, env_id: str, authorization: Caller, request_id: str, what: str
    ) -> tuple[Any, Any]:
        b = self._b
        if not valid_env_id(env_id):
            raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")
        audit = Audit(request_id, env_id)
        who: Identity = b._authenticate(authorization, audit, READ)
        # An approved, open read request grants the release reads too (change.md §9).
        if (
            not b.authorizer.allowed(who, env_id, "get", "releases")
            and b.request_grant(who, env_id, "read") is None
        ):
            b._deny(audit, who, "forbidden", "RBAC denied (releases)")
            raise Forbidden(f"{who.username} may not read releases of environment {env_id}")
        cached = b.lookup_cache.get(env_id) if b.lookup_cache is not None else None
        if cached is None:
            env, target = b._lookup(env_id)
            if env is not None and not isinstance(target, Exception) and b.lookup_cache:
                b.lookup_cache.put(env_id, (env, target))
        else:
            env = cached[0]
        if env is None:
            b._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        if b.release_reader is None:
            raise ServiceUnavailable("release reading is not configured")
        # The audit line only: an Event per read would flood the Environment.
        audit_logger().info(
            AuditRecord(
                event="releases",
                request_id=request_id,
                outcome="read",
                environment=env_id,
                user=who.username,
                groups=who.groups,
                reason=what,
            ).line()
        )
        return env, b.release_reader


def _one_driver_each(found: list[records.Record]) -> list[records.Record]:
    """A release kept by both drivers (moved between them): the Secret's, Helm's default."""
    by_key: dict[tuple[str, str], records.Record] = {}
    for r in sorted(found, key=lambda r: r.driver != "secret"):
        by_key.setdefault((r.namespace, records.release_name(r)), r)
    return list(by_key.values())


def _one_driver_each_revision(found: list[records.Record]) -> list[records.Record]:
    by_key: dict[int, records.Record] = {}
    for r in sorted(found, key=lambda r: r.driver != "secret"):
        by_key.setdefault(records.revision(r), r)
    return list(by_key.values())

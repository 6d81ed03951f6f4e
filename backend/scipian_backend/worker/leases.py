"""Execution Leases on mgmt: who may take one (pure), and the calls that take, renew and
release them with optimistic concurrency (an update names the resourceVersion it read, so
of two replicas racing for one Lease exactly one wins).

Two Lease meanings share the backend's namespace: a promotion's release lock
(promotions/lock.py, holder = the promotion) and the worker's Leases here (holder = a
replica): `scipian-exec-<short>-<object>` per claimed object, and `scipian-worker` for the
periodic tasks.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.kube import json_body, status_of

MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_NAME = 253  # a Lease's name is a DNS subdomain
WORK_ANNOTATION = "scipian.io/work"  # what a claim is for: group/plural/name


def lease_name(short: str, obj_name: str) -> str:
    """`scipian-exec-<short>-<name>`, or the name's hash when that would be too long."""
    name = f"scipian-exec-{short}-{obj_name}"
    if len(name) <= MAX_NAME:
        return name
    return f"scipian-exec-{short}-{hashlib.sha256(obj_name.encode()).hexdigest()[:40]}"


def stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime(MICRO)


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    for fmt in (MICRO, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def expires_at(spec: dict[str, Any]) -> datetime | None:
    """When a Lease's hold ends: renewTime (else acquireTime) + leaseDurationSeconds; None
    for a Lease that names no time or duration (nobody holds it)."""
    when = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if when is None or not isinstance(duration, int) or isinstance(duration, bool):
        return None
    return when + timedelta(seconds=duration)


def may_take(spec: dict[str, Any], me: str, now: datetime) -> bool:
    """Whether replica `me` may take a Lease with this spec (pure): nobody holds it, it is
    already ours, or its holder let it expire (renewTime + duration < now)."""
    holder = spec.get("holderIdentity")
    if not holder or holder == me:
        return True
    end = expires_at(spec)
    return end is None or end < now


@dataclass
class Held:
    """A Lease this replica holds: the body last written (its resourceVersion included)."""

    name: str
    body: dict[str, Any]


class Refused(Exception):
    """The Lease is held by someone else (their holderIdentity and when their hold ends)."""

    def __init__(self, holder: str, until: datetime | None) -> None:
        super().__init__(holder)
        self.holder = holder
        self.until = until


class Gone(Exception):
    """A Lease we held was deleted or taken by someone else: it is no longer ours."""


class LeaseClient:
    """Takes, renews and releases Leases in one namespace as one replica."""

    def __init__(
        self, api: client.ApiClient, namespace: str, replica: str, timeout: float = 10.0
    ) -> None:
        self._api = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.replica = replica
        self._timeout = timeout

    def take(
        self,
        name: str,
        seconds: int,
        now: datetime,
        annotations: dict[str, str] | None = None,
    ) -> Held:
        """Creates or takes over Lease `name`; raises Refused when another replica holds it
        (or won a race for it), ApiException/HTTPError when mgmt fails."""
        spec = {
            "holderIdentity": self.replica,
            "leaseDurationSeconds": seconds,
            "acquireTime": stamp(now),
            "renewTime": stamp(now),
        }
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "annotations": dict(annotations or {}),
            },
            "spec": spec,
        }
        try:
            return Held(name, self._write(self._api.create_namespaced_lease, body))
        except ApiException as e:
            if status_of(e) != 409:
                raise
        current = self.read(name)
        if current is None:  # released between our create and read: next time
            raise Refused("", None)
        old = current.get("spec") or {}
        if not may_take(old, self.replica, now):
            raise Refused(str(old.get("holderIdentity") or ""), expires_at(old))
        if old.get("holderIdentity") == self.replica and old.get("acquireTime"):
            spec["acquireTime"] = old["acquireTime"]
        else:
            spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        current["spec"] = spec
        meta = current.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
        try:
            return Held(name, self._write(self._replace, current))
        except ApiException as e:
            if status_of(e) in (404, 409):  # another replica was quicker
                raise Refused("", None) from None
            raise

    def renew(self, held: Held, now: datetime, annotations: dict[str, str] | None = None) -> None:
        """Moves renewTime to now (and merges `annotations`); raises Gone when the Lease was
        deleted or is another's, ApiException/HTTPError when mgmt fails (retry)."""
        body = held.body
        body["spec"]["renewTime"] = stamp(now)
        if annotations:
            meta = body.setdefault("metadata", {})
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        try:
            held.body = self._write(self._replace, body)
            return
        except ApiException as e:
            status = status_of(e)
            if status == 404:
                raise Gone(held.name) from None
            if status != 409:
                raise
        # Someone else wrote it: still ours only if it still names us.
        current = self.read(held.name)
        if current is None or (current.get("spec") or {}).get("holderIdentity") != self.replica:
            raise Gone(held.name)
        current["spec"]["renewTime"] = stamp(now)
        meta = current.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
        try:
            held.body = self._write(self._replace, current)
        except ApiException as e:
            if status_of(e) in (404, 409):
                raise Gone(held.name) from None
            raise

    def release(self, held: Held) -> None:
        """Deletes the Lease if it is still the version we wrote (best effort: one that
        stays behind expires)."""
        rv = (held.body.get("metadata") or {}).get("resourceVersion")
        try:
            resp = self._api.delete_namespaced_lease(
                held.name,
                self.namespace,
                body={"preconditions": {"resourceVersion": rv}} if rv else None,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            resp.drain_conn()
            resp.release_conn()
        except (ApiException, HTTPError):
            pass

    def vacate(self, held: Held) -> None:
        """Lets go of the Lease but keeps it (and its annotations: the periodic tasks'
        last runs) for the next holder, who may take it at once (best effort)."""
        body = held.body
        body["spec"].pop("holderIdentity", None)
        with contextlib.suppress(ApiException, HTTPError, ValueError):
            held.body = self._write(self._replace, body)

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.read_namespaced_lease(
                    name, self.namespace, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise

    def _replace(self, namespace: str, body: dict[str, Any], **kw: Any) -> Any:
        return self._api.replace_namespaced_lease(body["metadata"]["name"], namespace, body, **kw)

    def _write(self, call: Any, body: dict[str, Any]) -> dict[str, Any]:
        return json_body(
            call(self.namespace, body, _request_timeout=self._timeout, _preload_content=False)
        )

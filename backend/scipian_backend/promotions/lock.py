"""One active promotion per release: a Lease per (namespace, release) on mgmt.

The Lease (in the backend's namespace, named by a hash of `namespace/release`) names the
promotion that holds it. Creating it is atomic; when it exists, it is taken over (an
update with the resourceVersion read, so only one of two racers wins) only when its holder
is finished or gone. A holder that is missing but acquired the lock moments ago is a
promotion still being created: that counts as active.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.errors import ServiceUnavailable
from scipian_backend.kube import json_body, status_of

CREATING_GRACE = timedelta(seconds=60)
MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


class Held(Exception):
    """The release's lock is held by an active promotion (its name; "" while being created)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def lock_name(namespace: str, release: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{release}".encode()).hexdigest()[:32]
    return f"scipian-promotion-{digest}"


class ReleaseLock:
    def __init__(self, mgmt: client.ApiClient, namespace: str, timeout: float = 10.0) -> None:
        self._api = client.CoordinationV1Api(mgmt)
        self._ns = namespace
        self._timeout = timeout

    def acquire(
        self,
        namespace: str,
        release: str,
        holder: str,
        state_of: Callable[[str], str],
        now: datetime | None = None,
    ) -> None:
        """Takes the lock for `holder`, or raises Held. `state_of(name)` says what the
        promotion of that name is: "active", "finished" or "gone"."""
        name = lock_name(namespace, release)
        stamp = (now or datetime.now(timezone.utc)).strftime(MICRO)
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name,
                "namespace": self._ns,
                "annotations": {"scipian.io/release": f"{namespace}/{release}"},
            },
            "spec": {"holderIdentity": holder, "acquireTime": stamp, "renewTime": stamp},
        }
        try:
            resp = self._api.create_namespaced_lease(
                self._ns, body, _request_timeout=self._timeout, _preload_content=False
            )
            _done(resp)
            return
        except ApiException as e:
            if status_of(e) != 409:
                raise _unavailable(e) from None
        except HTTPError as e:
            raise _unavailable(e) from None
        try:
            lease = json_body(
                self._api.read_namespaced_lease(
                    name, self._ns, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except (ApiException, HTTPError, ValueError) as e:
            raise _unavailable(e) from None
        spec = lease.get("spec") or {}
        current = str(spec.get("holderIdentity") or "")
        state = state_of(current) if current else "gone"
        if state == "active":
            raise Held(current)
        if state == "gone" and _recent(spec.get("acquireTime"), now):
            raise Held(current)  # its holder may still be on its way into the cluster
        lease["spec"] = body["spec"]
        try:
            resp = self._api.replace_namespaced_lease(
                name, self._ns, lease, _request_timeout=self._timeout, _preload_content=False
            )
            _done(resp)
        except ApiException as e:
            if status_of(e) == 409:  # another creator took it over first
                raise Held("") from None
            raise _unavailable(e) from None
        except HTTPError as e:
            raise _unavailable(e) from None

    def release(self, namespace: str, release: str, holder: str) -> None:
        """Lets go of a lock this holder took (a creation that failed after taking it)."""
        name = lock_name(namespace, release)
        try:
            lease = json_body(
                self._api.read_namespaced_lease(
                    name, self._ns, _request_timeout=self._timeout, _preload_content=False
                )
            )
            if (lease.get("spec") or {}).get("holderIdentity") != holder:
                return
            resp = self._api.delete_namespaced_lease(
                name,
                self._ns,
                body={"preconditions": {"resourceVersion": lease["metadata"]["resourceVersion"]}},
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            _done(resp)
        except (ApiException, HTTPError, ValueError, KeyError):
            pass  # a stale lock is taken over once its holder proves gone


def _done(resp: Any) -> None:
    """The answer is not needed: read it, so that its connection goes back usable."""
    resp.drain_conn()
    resp.release_conn()


def _recent(value: object, now: datetime | None) -> bool:
    if not isinstance(value, str):
        return False
    try:
        when = datetime.strptime(value, MICRO).replace(tzinfo=timezone.utc)
    except ValueError:
        try:
            when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return False
    return (now or datetime.now(timezone.utc)) - when < CREATING_GRACE


def _unavailable(e: BaseException) -> ServiceUnavailable:
    status = status_of(e)
    return ServiceUnavailable(
        "management cluster unavailable" + (f" (HTTP {status})" if status else "")
    )

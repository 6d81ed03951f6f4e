"""The worker room's kind for AccessRequests (short "access"): the clock of every request.

- Pending past status.expiresAt (creation + --request-pending-seconds) → Expired.
- Approved: a turn before the window's end only returns the seconds left, so the room
  wakes it at the end; then the request's sessions are deleted (every credential under it
  stops) and only then the phase becomes Ended. The grants (grants.py) stop counting the
  request at its window's end whatever this worker does; this is what ends the tokens.
- A terminal phase (Denied, Expired, Ended, Cancelled, Revoked) whose sessions were not
  confirmed deleted by this process → deleted (a revoke whose deletion failed, a replica
  that stopped between the two). Only within TOKEN_HORIZON of its last transition: any
  token minted under it has expired by then.
- deletionTimestamp set → the sessions are deleted, then the finalizer removed.

Single-writer rule (the contract): this worker writes Pending→Expired, Approved→Ended and
the finalizer; the service writes every other change. Status writes are optimistic
(resourceVersion), retried from a fresh read.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend.accessrequests.grants import parse_time
from scipian_backend.audit.records import Record
from scipian_backend.kube import json_body, status_of
from scipian_backend.worker.claims import Claim

log = logging.getLogger("scipian.accessrequests")

GROUP = "scipian.io"
VERSION = "v1alpha1"
PLURAL = "accessrequests"
KIND = "AccessRequest"
FINALIZER = "scipian.io/access-request"
PENDING, APPROVED = "Pending", "Approved"
EXPIRED, ENDED = "Expired", "Ended"
TERMINAL = ("Denied", "Expired", "Ended", "Cancelled", "Revoked")
TOKEN_HORIZON = 86400 + 600  # the longest token (a level's TTL ≤ 1 day) and a margin
ATTEMPTS = 10


class Sessions(Protocol):
    def revoke(self, obj: dict[str, Any]) -> int: ...


class Notifier(Protocol):
    def __call__(self, type: str, **fields: Any) -> None: ...


def stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_of(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    phase = status.get("phase") if isinstance(status, dict) else None
    return phase if isinstance(phase, str) else ""


def deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def finalizers(obj: dict[str, Any]) -> list[str]:
    found = (obj.get("metadata") or {}).get("finalizers") or []
    return [str(f) for f in found] if isinstance(found, list) else []


def ends_at(obj: dict[str, Any]) -> datetime | None:
    """Pending: when it expires undecided; Approved: the window's end."""
    return parse_time((obj.get("status") or {}).get("expiresAt"))


def last_transition(obj: dict[str, Any]) -> datetime | None:
    status = obj.get("status") or {}
    for key in ("lastTransition", "endedAt"):
        when = parse_time(status.get(key))
        if when is not None:
            return when
    return None


def closed(obj: dict[str, Any], now: datetime, phase: str) -> dict[str, Any] | None:
    """The status of a Pending request expired (phase EXPIRED) or an Approved one whose
    window ended (ENDED) at `now`; None when the object is not in that state now."""
    want = PENDING if phase == EXPIRED else APPROVED
    end = ends_at(obj)
    if phase_of(obj) != want or deleting(obj) or end is None or now < end:
        return None
    status = dict(obj.get("status") or {})
    when = stamp(now)
    message = "no decision before it expired" if phase == EXPIRED else "the access window ended"
    status.update(phase=phase, endedAt=when, lastTransition=when, message=message)
    return status


class AccessRequestWorker:
    """The worker room's WorkKind for AccessRequests (worker/claims.py)."""

    group = GROUP
    version = VERSION
    plural = PLURAL
    short = "access"

    def __init__(
        self,
        mgmt: client.ApiClient,
        sessions: Sessions,
        *,
        audit_line: Callable[[Record], None],
        event: Callable[[dict[str, Any]], None],
        notify: Notifier | None = None,
        replica: str = "",
        timeout: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._api = client.CustomObjectsApi(mgmt)
        self._sessions = sessions
        self._audit_line = audit_line
        self._event = event
        self._notify = notify
        self._replica = replica
        self._timeout = timeout
        self._now = now
        self._lock = threading.Lock()
        self._clean: set[str] = set()  # uids of terminal requests whose sessions are gone

    # --- the worker room's questions --------------------------------------------------------

    def wants(self, obj: dict[str, Any], now: datetime) -> bool:
        if deleting(obj):
            return FINALIZER in finalizers(obj)
        phase = phase_of(obj)
        if phase in (PENDING, APPROVED):
            return ends_at(obj) is not None  # a turn returns the seconds to the end
        if phase in TERMINAL:
            with self._lock:
                if _uid(obj) in self._clean:
                    return False
            when = last_transition(obj)
            return when is None or (now - when).total_seconds() < TOKEN_HORIZON
        return False

    def turn(self, obj: dict[str, Any], claim: Claim) -> float | None:
        name = _name(obj)
        now = self._now()
        if deleting(obj):
            self._sessions.revoke(obj)
            self._remove_finalizer(name)
            return None
        phase = phase_of(obj)
        end = ends_at(obj)
        if phase in (PENDING, APPROVED) and end is not None and now < end:
            return (end - now).total_seconds()
        if phase == PENDING:
            self._close(name, EXPIRED)
            return None
        if phase == APPROVED:
            # The sessions first: a request shown Ended has no credential left.
            self._sessions.revoke(obj)
            self._close(name, ENDED)
            with self._lock:
                self._clean.add(_uid(obj))
            return None
        if phase in TERMINAL:
            self._sessions.revoke(obj)
            with self._lock:
                self._clean.add(_uid(obj))
        return None

    # --- writes -----------------------------------------------------------------------------

    def _close(self, name: str, phase: str) -> None:
        """Pending→Expired or Approved→Ended with the resourceVersion read; a 409 starts
        again from a fresh read (the service may have written in between)."""
        for _ in range(ATTEMPTS):
            obj = self._read(name)
            if obj is None:
                return
            status = closed(obj, self._now(), phase)
            if status is None:
                return  # someone else changed it first (a revoke, a cancel)
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "metadata": {
                    "name": name,
                    "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion"),
                },
                "status": status,
            }
            try:
                after = json_body(
                    self._api.replace_cluster_custom_object_status(
                        GROUP, VERSION, PLURAL, name, body,
                        _request_timeout=self._timeout, _preload_content=False,
                    )
                )  # fmt: skip
            except ApiException as e:
                if status_of(e) == 409:
                    continue
                if status_of(e) == 404:
                    return
                raise
            self._record(after, phase)
            return
        raise RuntimeError(f"access request {name}: status kept changing")

    def _remove_finalizer(self, name: str) -> None:
        for _ in range(ATTEMPTS):
            obj = self._read(name)
            if obj is None or FINALIZER not in finalizers(obj):
                return
            meta = obj.get("metadata") or {}
            patch = {
                "metadata": {
                    "finalizers": [f for f in finalizers(obj) if f != FINALIZER],
                    "resourceVersion": meta.get("resourceVersion"),
                }
            }
            try:
                self._api.patch_cluster_custom_object(
                    GROUP, VERSION, PLURAL, name, patch, _request_timeout=self._timeout
                )
                log.info("access request %s: sessions deleted, finalizer removed", name)
                return
            except ApiException as e:
                if status_of(e) == 409:
                    continue
                if status_of(e) == 404:
                    return
                raise
        raise RuntimeError(f"access request {name}: finalizer kept changing")

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.get_cluster_custom_object(
                    GROUP, VERSION, PLURAL, name,
                    _request_timeout=self._timeout, _preload_content=False,
                )
            )  # fmt: skip
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise

    def _record(self, obj: dict[str, Any], phase: str) -> None:
        """One audit line, one Event, one notification per change this worker made."""
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        name = _name(obj)
        env = str(spec.get("environment") or "")
        user = str((spec.get("requester") or {}).get("user") or "")
        request_id = f"worker/{self._replica}" if self._replica else "worker"
        message = str(status.get("message") or "")
        self._audit_line(
            Record(
                event="access_request",
                request_id=request_id,
                outcome=phase.lower(),
                environment=env or None,
                user=user or None,
                reason=message,
                level=str(spec.get("level") or "read"),
                justification=str(spec.get("justification") or ""),
                access_request={"name": name, "to": phase},
            )
        )
        when = stamp(self._now())
        self._event(
            {
                "metadata": {"name": f"{name}.{secrets.token_hex(8)}"},
                "involvedObject": {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": name,
                    "uid": meta.get("uid", ""),
                },
                "reason": f"AccessRequest{phase}",
                "message": f"{name}: {message} (request {request_id})"[:1024],
                "type": "Normal",
                "source": {"component": "scipian-backend"},
                "firstTimestamp": when,
                "lastTimestamp": when,
                "count": 1,
            }
        )
        if self._notify is not None:
            try:
                self._notify(
                    f"request.{phase.lower()}",
                    environment=env,
                    name=name,
                    requester=user,
                    level=str(spec.get("level") or ""),
                    phase=phase,
                    justification=str(spec.get("justification") or ""),
                )
            except Exception as e:  # a notification never stops the worker's change
                log.warning("access request %s: notification failed (%s)", name, type(e).__name__)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or "")

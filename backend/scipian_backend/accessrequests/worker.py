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
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend.accessrequests import records as r
from scipian_backend.accessrequests.events import change_event, change_record
from scipian_backend.accessrequests.store import AccessRequestStore
from scipian_backend.errors import InternalError
from scipian_backend.kube import json_body, status_of
from scipian_backend.worker.claims import Claim

if TYPE_CHECKING:
    from scipian_backend.usecases import Backend

log = logging.getLogger("scipian.accessrequests")

FINALIZER = r.FINALIZER
PENDING, APPROVED, EXPIRED, ENDED = r.PENDING, r.APPROVED, r.EXPIRED, r.ENDED
TERMINAL = r.TERMINAL
TOKEN_HORIZON = 86400 + 600  # the longest token (a level's TTL ≤ 1 day) and a margin
ATTEMPTS = 10


class Sessions(Protocol):
    def revoke(self, obj: dict[str, Any]) -> int: ...


def deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def finalizers(obj: dict[str, Any]) -> list[str]:
    found = (obj.get("metadata") or {}).get("finalizers") or []
    return [str(f) for f in found] if isinstance(found, list) else []


def ends_at(obj: dict[str, Any]) -> datetime | None:
    """Pending: when it expires undecided; Approved: the window's end."""
    return r.parse_stamp(r.status_of(obj).get("expiresAt"))


def last_transition(obj: dict[str, Any]) -> datetime | None:
    status = r.status_of(obj)
    for key in ("lastTransition", "endedAt"):
        when = r.parse_stamp(status.get(key))
        if when is not None:
            return when
    return None


def closed(obj: dict[str, Any], now: datetime, phase: str) -> dict[str, Any] | None:
    """The status of a Pending request expired (phase EXPIRED) or an Approved one whose
    window ended (ENDED) at `now`; None when the object is not in that state now."""
    want = PENDING if phase == EXPIRED else APPROVED
    end = ends_at(obj)
    if r.phase(obj) != want or deleting(obj) or end is None or now < end:
        return None
    status = dict(r.status_of(obj))
    when = r.now_stamp(now)
    message = "no decision before it expired" if phase == EXPIRED else "the access window ended"
    status.update(phase=phase, endedAt=when, lastTransition=when, message=message)
    return status


class AccessRequestWorker:
    """The worker room's WorkKind for AccessRequests (worker/claims.py)."""

    group = r.GROUP
    version = r.VERSION
    plural = r.PLURAL
    short = "access"

    def __init__(
        self,
        backend: Backend,
        store: AccessRequestStore,
        sessions: Sessions,
        mgmt: client.ApiClient,
        *,
        replica: str = "",
        timeout: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._b = backend
        self._store = store
        self._api = client.CustomObjectsApi(mgmt)
        self._sessions = sessions
        self._replica = replica
        self._timeout = timeout
        self._now = now
        self._lock = threading.Lock()
        self._clean: set[str] = set()  # uids of terminal requests whose sessions are gone

    # --- the worker room's questions --------------------------------------------------------

    def wants(self, obj: dict[str, Any], now: datetime) -> bool:
        if deleting(obj):
            return FINALIZER in finalizers(obj)
        phase = r.phase(obj)
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
        name = r.name_of(obj)
        now = self._now()
        if deleting(obj):
            self._sessions.revoke(obj)
            self._remove_finalizer(name)
            return None
        phase = r.phase(obj)
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
        """Pending→Expired or Approved→Ended, written with the resourceVersion read (the
        store retries from a fresh read on 409: the service may have written between)."""
        try:
            before, after = self._store.update_status(
                name, lambda obj: closed(obj, self._now(), phase)
            )
        except InternalError:
            return  # deleted meanwhile: its finalizer's turn deletes the sessions
        change = r.change_of(before, after)
        if change is not None:
            self._record(after, change)

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
                    r.GROUP, r.VERSION, r.PLURAL, name, patch, _request_timeout=self._timeout
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
                    r.GROUP, r.VERSION, r.PLURAL, name,
                    _request_timeout=self._timeout, _preload_content=False,
                )
            )  # fmt: skip
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise

    def _record(self, obj: dict[str, Any], change: r.Change) -> None:
        """One audit line, one Event, one notification per change this worker made."""
        b = self._b
        request_id = f"worker/{self._replica}" if self._replica else "worker"
        why = str(r.status_of(obj).get("message") or "")
        b.auditor.line(change_record(obj, change, None, request_id, why))
        b.auditor.event(change_event(obj, change, None, request_id, self._now()))
        b.notify(
            f"request.{change.outcome}",
            environment=r.environment(obj),
            name=r.name_of(obj),
            requester=r.requester(obj),
            level=r.level(obj),
            phase=change.new,
            reason=why,
        )


def _uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or "")

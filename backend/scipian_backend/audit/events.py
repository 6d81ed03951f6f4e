"""Events on the Environment: the audit trail's view in the cluster, aggregated.

`kubectl describe environment dev` shows them. Aggregated like client-go's event recorder
does: what one user got from one Environment with one outcome within a flush interval (1 s)
becomes one Event with `count` and the request ids. One Event write per issuance doubled
the management cluster's writes under load and cost a sequential client ~2 ms per issuance
on a 2-CPU machine (bench/), and denials could flood it. Events are posted from a
background thread, so a slow management cluster does not slow issuance; a lost Event is
logged. Every record is also written as its JSON line (audit.records) first.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.audit.records import Record, audit_logger, stamp
from scipian_backend.config import GROUP, KIND, VERSION
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.kube import json_body

FLUSH_INTERVAL = 1.0
MAX_LISTED_IDS = 20  # request ids named in one Event's message (all are in the JSON lines)


class Series:
    """What one Event will say: records with the same environment, user and outcome (and,
    for issuances, justification)."""

    def __init__(self, rec: Record, env_uid: str | None) -> None:
        self.first = rec
        self.last = rec
        self.env_uid = env_uid
        self.count = 1
        self.request_ids = [rec.request_id]

    def add(self, rec: Record) -> None:
        self.last = rec
        self.count += 1
        if len(self.request_ids) < MAX_LISTED_IDS:
            self.request_ids.append(rec.request_id)


def rollback_message(rec: Record) -> str:
    """A rollback's Event (never aggregated: one per phase and request)."""
    r = rec.rollback or {}
    head = (
        f"{rec.user} rolls back release {r.get('release')} from revision "
        f"{r.get('fromRevision')} to {r.get('toRevision')}"
    )
    if rec.outcome == "finished":
        got = r.get("result") or {}
        verdict = "a rollback to" if got.get("rolledBack") else "not a rollback to"
        head = (
            f"{rec.user} rolled back release {r.get('release')} from revision "
            f"{r.get('fromRevision')} to {r.get('toRevision')}: helm exit code "
            f"{r.get('helmExitCode')}; the release is at revision {got.get('revision')} "
            f"({got.get('status')}, {got.get('description')!r}: {verdict} "
            f"{r.get('toRevision')})"
        )
    return f"{head}, justification {rec.justification!r} (request {rec.request_id})"[:1024]


def rollback_reason(rec: Record) -> tuple[str, str]:
    """(reason, type) of a rollback's Event."""
    if rec.outcome != "finished":
        return "ReleaseRollbackStarted", "Normal"
    r = rec.rollback or {}
    if r.get("helmExitCode") == 0 and (r.get("result") or {}).get("rolledBack"):
        return "ReleaseRolledBack", "Normal"
    return "ReleaseRollbackFailed", "Warning"


def event_message(series: Series) -> str:
    rec = series.last
    if rec.event == "rollback":
        return rollback_message(rec)
    issued = rec.outcome == "issued"
    who = rec.user or "unauthenticated caller"
    what = "deploy credentials" if rec.level == "deploy" else "credentials"
    denied = " deploy credentials" if rec.level == "deploy" else ""
    # An issued deploy credential: why, and the login it rests on (its Series shares its
    # justification). A denial's Event names neither: its records each have their own,
    # in the audit lines.
    why = ""
    if rec.level == "deploy" and issued:
        login = stamp(rec.auth_time) or "unknown"
        why = f", justification {rec.justification!r}, login at {login}"
    if series.count == 1:
        head = (
            f"issued {what} to {who} until {rec.expiration_timestamp}"
            if issued
            else f"denied {who}{denied}: {rec.outcome}"
        )
        return f"{head}{why} (request {rec.request_id})"[:1024]
    head = (
        f"issued {what} to {who} {series.count} times, the last until {rec.expiration_timestamp}"
        if issued
        else f"denied {who}{denied} {series.count} times: {rec.outcome}"
    )
    more = series.count - len(series.request_ids)
    ids = ", ".join(series.request_ids) + (f" and {more} more" if more else "")
    return f"{head}{why} (requests {ids})"[:1024]


def event_body(series: Series, env_uid: str) -> dict[str, object]:
    rec = series.last
    issued = rec.outcome == "issued"
    reason, kind = (
        rollback_reason(rec)
        if rec.event == "rollback"
        else ("CredentialsIssued", "Normal")
        if issued
        else ("CredentialsDenied", "Warning")
    )
    return {
        "metadata": {"name": f"{rec.environment}.{secrets.token_hex(8)}"},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": rec.environment,
            "uid": env_uid,
        },
        "reason": reason,
        "message": event_message(series),
        "type": kind,
        "source": {"component": "scipian-backend"},
        "firstTimestamp": _seconds(series.first.time),
        "lastTimestamp": _seconds(rec.time),
        "count": series.count,
    }


def _seconds(stamp: str) -> str:
    """A Record's time (microseconds) as an Event timestamp (RFC 3339, seconds)."""
    return stamp[:19] + "Z"


class Auditor:
    def __init__(
        self,
        mgmt: client.ApiClient | None,
        event_namespace: str,
        lookup_uid: Callable[[str], str | None] | None = None,
        logger: logging.Logger | None = None,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self._core = client.CoreV1Api(mgmt) if mgmt is not None else None
        self._lookup_uid = lookup_uid
        self._ns = event_namespace
        self._log = logger or audit_logger()
        self._interval = flush_interval
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, str | None, str, str, str], Series] = {}
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._poster: Any = None  # one thread for Events posted one by one (`event`)

    def record(self, rec: Record, env_uid: str | None = None) -> None:
        self._log.info(rec.line())
        # Unauthenticated callers get no Event: anyone could flood the Environment with them.
        if self._core is None or not rec.environment or not rec.user:
            return
        # An issuance's Series is per justification too: every reason given for a
        # credential shows in the Events. A denial's is not: a refused user choosing a new
        # justification per request would otherwise write an Event per request (the
        # justifications stay in the audit lines). A rollback's Event is its own (its
        # request id in the key): never aggregated.
        alone = rec.request_id if rec.event == "rollback" else ""
        why = "" if rec.event == "denial" else rec.justification
        key = (rec.environment, rec.user, rec.outcome, env_uid, rec.level, why, alone)
        with self._lock:
            series = self._pending.get(key)
            if series is None:
                self._pending[key] = Series(rec, env_uid)
            else:
                series.add(rec)
            if self._flusher is None and not self._stop.is_set():
                self._flusher = threading.Thread(
                    target=self._run, name="scipian-events", daemon=True
                )
                self._flusher.start()

    def line(self, rec: Record) -> None:
        """The JSON line alone (its Event, if any, is posted with `event`)."""
        self._log.info(rec.line())

    def event(self, body: dict[str, object]) -> None:
        """Posts one Event of its own (a promotion's phase change, a break-glass), never
        aggregated, in the background like the others; a lost Event is logged."""
        if self._core is None:
            return
        with self._lock:
            if self._poster is None:
                from concurrent.futures import ThreadPoolExecutor

                self._poster = ThreadPoolExecutor(1, "scipian-event")
            poster = self._poster
        poster.submit(self._post, body)

    def event_now(self, body: dict[str, object]) -> None:
        """Posts one Event and waits for it: ServiceUnavailable when it was not written.
        For what must not happen unseen (a break-glass credential: no Event, no credential)."""
        if self._core is None:
            raise ServiceUnavailable("no management cluster to record the Event on")
        try:
            resp = self._core.create_namespaced_event(
                self._ns, body, _request_timeout=10, _preload_content=False
            )
            resp.drain_conn()
            resp.release_conn()
        except (ApiException, HTTPError) as e:
            status = getattr(e, "status", "")
            logging.getLogger("scipian.audit.events").warning(
                "could not record Event %s: HTTP %s", body.get("reason"), status
            )
            raise ServiceUnavailable(
                f"could not record the {body.get('reason')} Event"
                + (f" (HTTP {status})" if status else "")
            ) from None

    def _post(self, body: dict[str, object]) -> None:
        try:
            resp = self._core.create_namespaced_event(  # type: ignore[union-attr]
                self._ns, body, _request_timeout=10, _preload_content=False
            )
            resp.drain_conn()
            resp.release_conn()
        except (ApiException, HTTPError) as e:
            logging.getLogger("scipian.audit.events").warning(
                "could not record Event %s: HTTP %s", body.get("reason"), getattr(e, "status", "")
            )

    def close(self) -> None:
        """Posts what is pending and stops the flusher (server shutdown)."""
        self._stop.set()
        with self._lock:
            flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout=30)
        self.flush()
        if self._poster is not None:
            self._poster.shutdown(wait=True)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for series in pending.values():
            self._event(series)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception as e:  # a bug must not stop all later Events; no message text
                logging.getLogger("scipian.audit.events").error(
                    "posting Events failed: %s", type(e).__name__
                )

    def recent(self, limit: int = 200, environment: str | None = None) -> list[dict[str, Any]]:
        """The newest Events on Environments in the Events namespace, or on one Environment
        (the dashboard's activity page asks per environment its reader may see, so a flood
        on another cannot push them out), newest first."""
        if self._core is None:
            return []
        selector = f"involvedObject.kind={KIND}"
        if environment is not None:
            selector += f",involvedObject.name={environment}"
        try:
            resp = self._core.list_namespaced_event(
                self._ns,
                field_selector=selector,
                _request_timeout=10,
                _preload_content=False,
            )
            doc = json_body(resp)
        except (ApiException, HTTPError, ValueError):
            raise ServiceUnavailable("management cluster unavailable") from None
        items = [e for e in doc.get("items", []) if isinstance(e, dict)]
        items.sort(key=lambda e: str(e.get("lastTimestamp") or ""), reverse=True)
        return items[:limit]

    def _event(self, series: Series) -> None:
        rec = series.last
        env_uid = series.env_uid
        if env_uid is None and self._lookup_uid is not None and rec.environment:
            try:
                env_uid = self._lookup_uid(rec.environment)
            except Exception:
                return
        if env_uid is None:
            return  # Events only on Environments that exist: no existence oracle in Events
        try:
            # The answer is not needed: read and drop it rather than build a V1Event (this
            # thread competes with requests for the GIL).
            resp = self._core.create_namespaced_event(  # type: ignore[union-attr]
                self._ns, event_body(series, env_uid), _request_timeout=10, _preload_content=False
            )
            resp.drain_conn()
            resp.release_conn()
        except (ApiException, HTTPError) as e:
            status = getattr(e, "status", "")
            logging.getLogger("scipian.audit.events").warning(
                "could not record Event for environment %s (request %s): HTTP %s",
                rec.environment,
                rec.request_id,
                status,
            )

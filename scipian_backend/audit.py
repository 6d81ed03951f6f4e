"""Audit trail: one JSON line per issuance and per denial, and an Event on the Environment.

Line fields: time, event ("issuance" | "denial"), requestId, user, groups, environment,
outcome ("issued" | "unauthenticated" | "forbidden" | "not_found" | "error"), reason,
expirationTimestamp, serviceAccount. Never a token or a credential.

Events are posted from a small thread pool so that a slow management cluster does not
slow issuance; a lost Event is logged, the JSON line is the record of truth.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import GROUP, KIND, VERSION

AUDIT_LOGGER = "scipian.audit"


@dataclass(frozen=True)
class Record:
    event: str
    request_id: str
    outcome: str
    environment: str | None
    user: str | None = None
    groups: tuple[str, ...] = ()
    reason: str = ""
    expiration_timestamp: str | None = None
    service_account: str | None = None
    time: str = field(default_factory=lambda: _now())

    def line(self) -> str:
        d = asdict(self)
        return json.dumps(
            {
                "time": d["time"],
                "event": d["event"],
                "requestId": d["request_id"],
                "user": d["user"],
                "groups": list(d["groups"]),
                "environment": d["environment"],
                "outcome": d["outcome"],
                "reason": d["reason"],
                "expirationTimestamp": d["expiration_timestamp"],
                "serviceAccount": d["service_account"],
            },
            separators=(",", ":"),
        )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_logger() -> logging.Logger:
    """The audit logger writes bare JSON lines to stdout (one handler, however often called)."""
    logger = logging.getLogger(AUDIT_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class Auditor:
    def __init__(
        self,
        mgmt: client.ApiClient | None,
        event_namespace: str,
        lookup_uid: Callable[[str], str | None] | None = None,
        logger: logging.Logger | None = None,
        workers: int = 4,
    ) -> None:
        self._core = client.CoreV1Api(mgmt) if mgmt is not None else None
        self._lookup_uid = lookup_uid
        self._ns = event_namespace
        self._log = logger or audit_logger()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="scipian-events")

    def record(self, rec: Record, env_uid: str | None = None) -> None:
        self._log.info(rec.line())
        # Unauthenticated callers get no Event: anyone could flood the Environment with them.
        if self._core is not None and rec.environment and rec.user:
            self._pool.submit(self._event, rec, env_uid)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _event(self, rec: Record, env_uid: str | None) -> None:
        if env_uid is None and self._lookup_uid is not None and rec.environment:
            try:
                env_uid = self._lookup_uid(rec.environment)
            except Exception:
                return
        if env_uid is None:
            return  # Events only on Environments that exist: no existence oracle in Events
        issued = rec.outcome == "issued"
        message = (
            f"issued credentials to {rec.user} until {rec.expiration_timestamp}"
            if issued
            else f"denied {rec.user or 'unauthenticated caller'}: {rec.outcome}"
        )
        now = datetime.now(timezone.utc)
        body = {
            "metadata": {"name": f"{rec.environment}.{secrets.token_hex(8)}"},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": rec.environment,
                "uid": env_uid,
            },
            "reason": "CredentialsIssued" if issued else "CredentialsDenied",
            "message": f"{message} (request {rec.request_id})"[:1024],
            "type": "Normal" if issued else "Warning",
            "source": {"component": "scipian-backend"},
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            # The answer is not needed: read and drop it rather than build a V1Event (this
            # thread competes with requests for the GIL).
            resp = self._core.create_namespaced_event(  # type: ignore[union-attr]
                self._ns, body, _request_timeout=10, _preload_content=False
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

"""The audit record: one JSON line per issuance and per denial, the record of truth.

Line fields: time, event ("issuance" | "denial" | "rollback" | "promotion"), requestId,
user, groups, environment, outcome ("issued" | "unauthenticated" | "forbidden" |
"not_found" | "step_up_required" | "error"; a promotion's: the new phase), reason,
expirationTimestamp, serviceAccount, level ("read" | "deploy"), justification, authTime
(the login's time, RFC 3339). A rollback's line adds `rollback` (release, fromRevision,
toRevision, helmExitCode, and on `finished` the result the backend read from the release
record); a promotion's phase change adds `promotion` (name, release, version, step, from,
to); an access request's state change (event "access_request", outcome the new phase
lowercased, or "approval") adds `accessRequest` (name, level, from, to); a break-glass
credential adds `breakGlass: true` and `breakGlassId` (the entry in the Environment's
status; event "breakglass" with outcome "recorded" is written before the credential is
minted, "acknowledged" when someone else acknowledges it). Never a token or
a credential. The line is written before the answer.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

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
    level: str = "read"
    justification: str = ""  # deploy: why, as the person gave it (checked: printable, bounded)
    auth_time: int | None = None  # when the person logged in at the provider, if known
    rollback: dict[str, Any] | None = None  # event "rollback": releases/rollbacks.py
    promotion: dict[str, Any] | None = None  # event "promotion": promotions/service.py
    break_glass: bool = False  # a deploy credential around a promotion gate
    break_glass_id: str = ""  # its entry in the Environment's status.breakGlass
    # event "access_request" (accessrequests/service.py): name, level, from, to; and, on a
    # credential issued under an approved request, the request's name
    access_request: dict[str, Any] | None = None
    time: str = field(default_factory=lambda: _now())

    def line(self) -> str:
        # Fields read one by one: dataclasses.asdict deep-copies every nested value first.
        line: dict[str, Any] = {
            "time": self.time,
            "event": self.event,
            "requestId": self.request_id,
            "user": self.user,
            "groups": list(self.groups),
            "environment": self.environment,
            "outcome": self.outcome,
            "reason": self.reason,
            "expirationTimestamp": self.expiration_timestamp,
            "serviceAccount": self.service_account,
            "level": self.level,
            "justification": self.justification,
            "authTime": stamp(self.auth_time),
        }
        if self.rollback is not None:
            line["rollback"] = self.rollback
        if self.promotion is not None:
            line["promotion"] = self.promotion
        if self.break_glass:
            line["breakGlass"] = True
        if self.break_glass_id:
            line["breakGlassId"] = self.break_glass_id
        if self.access_request is not None:
            line["accessRequest"] = self.access_request
        return json.dumps(line, separators=(",", ":"))


def stamp(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None  # a signed but absurd claim: the line must still be written


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

"""Dashboard sessions on mgmt, so that every replica sees every session at once: one Secret
per session in `scipian-dashboard`, named `session-<sha256 of the session id>` (the cookie
holds the id; the name a listing shows is no cookie).

A session holds only what the dashboard needs: the Identity its login verified (user,
groups, subject, auth_time), when it ends and its CSRF secret. No token of any kind: pages
are authorized afresh with SubjectAccessReviews. Every page reads it (no cache), so a
logout (the Secret deleted) is refused by every replica at the next request. A session
past its end is refused whether or not the sweeper (the worker room's `dashboard-sessions`)
has deleted it yet. A user holds at most `--ui-sessions-per-user`: a new sign-in ends the
oldest beyond that (counted from a listing, so two sign-ins racing on two replicas may
leave one more for a while).

Only a verified login (the callback, after the id_token's checks) writes here.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.identity.names import user_hash
from scipian_backend.ui.sealing_keys import DASHBOARD_NAMESPACE
from scipian_backend.ui.session import Session, session_key

log = logging.getLogger("scipian.ui")

SECRET_TYPE = "scipian.io/dashboard-session"  # noqa: S105 - a Secret type
KIND_LABEL = "scipian.io/dashboard"
KIND_VALUE = "session"
USER_LABEL = "scipian.io/user-hash"
EXPIRES = "scipian.io/expires-at"  # epoch seconds, for the sweeper's metadata listing
KEY = "session.json"
MAX_ID = 128  # characters of a cookie's session id worth a lookup
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE = 500  # the sweeper lists this many at a time


def secret_name(session_id: str) -> str:
    return "session-" + session_key(session_id)


def encode(session: Session) -> str:
    who = session.identity
    doc = {
        "user": who.username,
        "groups": list(who.groups),
        "subject": who.subject,
        "auth_time": who.auth_time,
        "expires": session.expires,
        "csrf": session.csrf,
    }
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode("ascii")


def decode(data: object) -> Session | None:
    """The Session a Secret's `data` holds, or None when malformed."""
    if not isinstance(data, dict):
        return None
    try:
        doc = json.loads(base64.b64decode(str(data.get(KEY, "")), validate=True))
        who = Identity(
            str(doc["user"]),
            tuple(str(g) for g in doc["groups"]),
            str(doc["subject"]),
            int(doc["auth_time"]) if doc.get("auth_time") is not None else None,
        )
        return Session(who, float(doc["expires"]), str(doc["csrf"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


UNREACHABLE = "the management cluster is unreachable"


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(UNREACHABLE)


class DashboardSessions:
    def __init__(
        self,
        mgmt: client.ApiClient,
        *,
        namespace: str = DASHBOARD_NAMESPACE,
        timeout: float = 10.0,
        per_user: int = 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._mgmt = mgmt
        self._core = client.CoreV1Api(mgmt)
        self.namespace = namespace
        self._timeout = timeout
        self._per_user = per_user
        self._clock = clock

    def create(self, identity: Identity, expires: float) -> tuple[str, Session]:
        """A new session of `identity` (its login verified), ending at `expires`."""
        session_id = secrets.token_urlsafe(32)
        session = Session(identity, expires, secrets.token_urlsafe(32))
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": {
                "name": secret_name(session_id),
                "namespace": self.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "scipian-backend",
                    KIND_LABEL: KIND_VALUE,
                    USER_LABEL: user_hash(identity.username),
                },
                "annotations": {EXPIRES: str(int(expires))},
            },
            "data": {KEY: encode(session)},
        }
        self._make_room(identity.username)
        try:
            kube.json_body(
                self._core.create_namespaced_secret(
                    self.namespace, body, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except (ApiException, HTTPError, ValueError):
            raise _unavailable() from None
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session a cookie names, or None (unknown, ended, expired)."""
        if not session_id or len(session_id) > MAX_ID:
            return None
        doc = self._read(secret_name(session_id))
        if doc is None:
            return None
        session = decode(doc.get("data"))
        if session is None or session.expires <= self._clock():
            return None
        return session

    def alive(self, key: str) -> bool:
        """Whether the session of this key (session_key(id): what follows know) still lives."""
        doc = self._read("session-" + key)
        if doc is None:
            return False
        session = decode(doc.get("data"))
        return session is not None and session.expires > self._clock()

    def _read(self, name: str) -> dict[str, Any] | None:
        return kube.read_secret(
            self._core, name, self.namespace, self._timeout, message=UNREACHABLE
        )

    def delete(self, session_id: str | None) -> None:
        if session_id and len(session_id) <= MAX_ID:
            self._delete(secret_name(session_id))

    def _delete(self, name: str) -> None:
        try:
            kube.json_body(
                self._core.delete_namespaced_secret(
                    name, self.namespace, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if kube.status_of(e) != 404:
                raise _unavailable() from None
        except (HTTPError, ValueError):
            raise _unavailable() from None

    def _make_room(self, username: str) -> None:
        """Ends the user's oldest sessions so that a new one keeps them at the cap."""
        items, _ = self._list(f"{USER_LABEL}={user_hash(username)}")
        excess = len(items) - self._per_user + 1
        if excess <= 0:
            return
        oldest = sorted(items, key=lambda m: (m.get("creationTimestamp") or "", m.get("name")))
        for meta in oldest[:excess]:
            self._delete(str(meta.get("name")))

    def sweep(self, now: datetime) -> None:
        """Deletes the sessions past their end (the worker room's periodic task)."""
        gone = 0
        cont: str | None = None
        while True:
            items, cont = self._list("", cont)
            for meta in items:
                try:
                    ends = float((meta.get("annotations") or {}).get(EXPIRES, "0"))
                except ValueError:
                    ends = 0.0  # malformed: not a session this backend wrote
                if ends <= now.timestamp():
                    self._delete(str(meta.get("name")))
                    gone += 1
            if not cont:
                break
        if gone:
            log.info("dashboard: %d expired sessions deleted", gone)

    def _list(self, selector: str, cont: str | None = None) -> tuple[list[dict[str, Any]], str]:
        label = f"{KIND_LABEL}={KIND_VALUE}" + (f",{selector}" if selector else "")
        query = [("labelSelector", label), ("limit", str(PAGE))]
        if cont:
            query.append(("continue", cont))
        try:
            doc = self._mgmt.call_api(
                f"/api/v1/namespaces/{self.namespace}/secrets",
                "GET",
                query_params=query,
                header_params={"Accept": METADATA_LIST},
                auth_settings=["BearerToken"],
                response_types_map={200: "object"},
                _return_http_data_only=True,
                _request_timeout=self._timeout,
            )
        except (ApiException, HTTPError, ValueError):
            raise _unavailable() from None
        if not isinstance(doc, dict):
            raise _unavailable()
        items = [i.get("metadata") or {} for i in doc.get("items") or [] if isinstance(i, dict)]
        return items, str((doc.get("metadata") or {}).get("continue") or "")

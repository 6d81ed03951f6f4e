"""The dashboard's sealing keys (ui/sealed.py), shared by every replica through one Secret on
mgmt: `scipian-dashboard-keys` (`serve --ui-keys-secret`) in `scipian-dashboard`.

The Secret holds the current key and the one before it: data `current` (a key id) and
`key-<id>` (32 bytes) for each. New values are sealed with the current key; both open. A
rotation (the worker room's periodic task `dashboard-keys`, every `--ui-key-rotation-seconds`,
or `python -m scipian_backend rotate-dashboard-keys`) adds a new current key and keeps the
one it replaces as the previous; the key before that goes. A pending login lives
`--ui-login-seconds`, so a rotation never breaks one under way unless two rotations happen
within that time (which is how to drop a leaked key at once: rotate twice). Sessions do not
depend on these keys at all (their cookie is a random id), so no rotation signs anyone out.

Replicas read the Secret at most every `--ui-key-cache-seconds`, and at once (at most once
a second) for a value naming a key id they do not know: another replica rotated. The
backend creates the Secret at start-up when it is missing (never while answering a
request); an operator may create it instead, e.g. from a secret manager, in this format.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.ui.sealed import KEY_BYTES, KEY_ID, Keyring, key_id_of, new_key, new_key_id

log = logging.getLogger("scipian.ui")

DASHBOARD_NAMESPACE = "scipian-dashboard"
KEYS_SECRET = "scipian-dashboard-keys"  # noqa: S105 - a Secret's name, not a password
SECRET_TYPE = "scipian.io/dashboard-keys"  # noqa: S105 - a Secret type
CURRENT = "current"
ROTATED_AT = "scipian.io/rotated-at"
MIN_REFETCH_SECONDS = 1.0  # unknown key ids cost mgmt at most one read a second


def ring_from_data(data: Mapping[str, Any] | None) -> Keyring | None:
    """The Keyring a Secret's `data` (base64 values) holds, or None when malformed."""
    if not isinstance(data, Mapping):
        return None
    try:
        current = base64.b64decode(str(data.get(CURRENT, "")), validate=True).decode("ascii")
        keys = {
            name.removeprefix("key-"): base64.b64decode(str(value), validate=True)
            for name, value in data.items()
            if name.startswith("key-")
        }
        return Keyring(current, keys)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def rotated_data(ring: Keyring | None, kid: str, key: bytes) -> dict[str, str]:
    """A Secret's `data` with `key` current and the ring's current key kept as the previous
    (every older one dropped)."""
    if not KEY_ID.fullmatch(kid) or len(key) != KEY_BYTES:
        raise ValueError("bad new key")
    keys = {kid: key}
    if ring is not None and ring.current != kid:
        keys[ring.current] = bytes(ring.keys[ring.current])
    data = {f"key-{k}": base64.b64encode(v).decode("ascii") for k, v in keys.items()}
    data[CURRENT] = base64.b64encode(kid.encode("ascii")).decode("ascii")
    return data


class SealingKeys:
    def __init__(
        self,
        mgmt: client.ApiClient,
        name: str = KEYS_SECRET,
        *,
        namespace: str = DASHBOARD_NAMESPACE,
        timeout: float = 10.0,
        cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = client.CoreV1Api(mgmt)
        self.name = name
        self.namespace = namespace
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._ring: Keyring | None = None
        self._fetched = -float("inf")

    # -- reads (any request) ---------------------------------------------------------------

    def ring(self) -> Keyring:
        """The keys, from the cache unless it is older than --ui-key-cache-seconds."""
        with self._lock:
            ring, age = self._ring, self._clock() - self._fetched
        if ring is not None and age < self._cache_seconds:
            return ring
        return self._refresh()

    def ring_for(self, sealed: str) -> Keyring:
        """The keys for opening `sealed`: read again when it names a key id not known here
        (another replica rotated), at most once a second."""
        ring = self.ring()
        kid = key_id_of(sealed)
        if kid is None or kid in ring.keys:
            return ring
        with self._lock:
            recent = self._clock() - self._fetched < MIN_REFETCH_SECONDS
        return ring if recent else self._refresh()

    def _refresh(self) -> Keyring:
        secret = self._read()
        ring = ring_from_data(secret.get("data")) if secret is not None else None
        if ring is None:
            raise ServiceUnavailable(
                f"the dashboard's keys ({self.namespace}/{self.name}) are missing or malformed"
            )
        with self._lock:
            self._ring, self._fetched = ring, self._clock()
        return ring

    def _read(self) -> dict[str, Any] | None:
        return kube.read_secret(
            self._core,
            self.name,
            self.namespace,
            self._timeout,
            message="the management cluster is unreachable",
        )

    # -- writes (start-up, the worker room, the admin CLI) -----------------------------------

    def ensure(self, now: datetime) -> str | None:
        """Creates the Secret with a first key when missing; that key's id when this call
        did, else None."""
        if self._read() is not None:
            return None
        kid = new_key_id()
        body = self._body(rotated_data(None, kid, new_key()), now)
        try:
            kube.json_body(
                self._core.create_namespaced_secret(
                    self.namespace, body, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if kube.status_of(e) == 409:
                return None  # another replica was first
            raise ServiceUnavailable("the management cluster is unreachable") from None
        except (HTTPError, ValueError):
            raise ServiceUnavailable("the management cluster is unreachable") from None
        log.info("dashboard: created the sealing keys %s/%s", self.namespace, self.name)
        return kid

    def rotate(self, now: datetime, older_than: float | None = None) -> str | None:
        """A new current key, the current one kept as the previous; with `older_than`
        (seconds), only when the last rotation is at least that old. Returns the new key id
        (None: not rotated). Optimistic: a concurrent rotation wins and this one gives up."""
        secret = self._read()
        if secret is None:
            return self.ensure(now)
        meta = secret.get("metadata") or {}
        if older_than is not None:
            at = kube.parse_stamp((meta.get("annotations") or {}).get(ROTATED_AT))
            if at is not None and (now - at).total_seconds() < older_than:
                return None
        kid = new_key_id()
        body = self._body(rotated_data(ring_from_data(secret.get("data")), kid, new_key()), now)
        body["metadata"]["resourceVersion"] = meta.get("resourceVersion")
        try:
            kube.json_body(
                self._core.replace_namespaced_secret(
                    self.name,
                    self.namespace,
                    body,
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )
        except ApiException as e:
            if kube.status_of(e) == 409:
                return None
            raise ServiceUnavailable("the management cluster is unreachable") from None
        except (HTTPError, ValueError):
            raise ServiceUnavailable("the management cluster is unreachable") from None
        with self._lock:
            self._fetched = -float("inf")  # this replica seals with the new key at once
        log.info("dashboard: rotated the sealing keys (current key %s)", kid)
        return kid

    def periodic(self, every_seconds: float) -> Callable[[datetime], None]:
        """The worker room's task: create when missing, rotate when due (0: never)."""

        def turn(now: datetime) -> None:
            if every_seconds:
                self.rotate(now, older_than=every_seconds)
            else:
                self.ensure(now)

        return turn

    def _body(self, data: dict[str, str], now: datetime) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "scipian-backend"},
                "annotations": {ROTATED_AT: kube.stamp(now)},
            },
            "data": data,
        }

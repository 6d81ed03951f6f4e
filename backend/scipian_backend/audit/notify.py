"""Notifications (`serve --notify-url`, change.md §11): one JSON event per state change a
person should hear about, POSTed to one http(s) URL.

`Notifier.notify` never blocks a request: it puts the event on a bounded queue, and one
sender thread posts them, each with a timeout and a few retries with backoff. A full
queue drops the event (counted: `scipian_notifications_total{outcome="dropped"}`); a post
that fails every try is counted `failed` and logged by its type alone.

What an event may carry is an allow-list of fields (EVENT_FIELDS), each a short string, a
number, a boolean or a short list of strings: never values, diffs, tokens or kubeconfigs,
whatever a caller passes. The URL itself is a secret (a chat webhook's path is its key;
user:password may ride in it): logs name its scheme and host only.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3

from scipian_backend.errors import ConfigError

LOG = logging.getLogger("scipian.notify")

# The event types (docs/api.md "Notifications"); another type is a programming error,
# logged and dropped rather than posted.
TYPES = frozenset(
    {
        "promotion.awaiting_approval",
        "promotion.succeeded",
        "promotion.failed",
        "promotion.cancelled",
        "request.pending",
        "request.approved",
        "request.denied",
        "request.revoked",
        "request.cancelled",
        "request.expired",
        "request.ended",
        "breakglass",
        "breakglass.acknowledged",
    }
)
# Keyword → JSON key. Anything else a caller passes is left out of the event.
EVENT_FIELDS = {
    "environment": "environment",
    "name": "name",  # the Promotion's or AccessRequest's name
    "id": "id",  # a break-glass entry's id
    "user": "user",  # who did what the event says
    "requester": "requester",  # who asked (a request), who started (a promotion)
    "justification": "justification",
    "level": "level",
    "phase": "phase",
    "approvals": "approvals",  # how many so far
    "approvals_required": "approvalsRequired",
    "namespaces": "namespaces",
    "duration_seconds": "durationSeconds",
    "expires_at": "expiresAt",
    "reason": "reason",  # a short machine reason (a failure's kind), never output
}
MAX_STRING = 512  # characters of one string field (a justification's own limit)
MAX_LIST = 32  # items of one list field (namespaces)
DEFAULT_QUEUE = 1000
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0  # seconds before the second try; doubled each try after


def check_notify_url(url: str) -> str:
    """The URL as given, if it is an absolute http(s) URL with a host (ConfigError otherwise).
    The error never repeats the URL: it may carry a secret."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        raise ConfigError("--notify-url is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError("--notify-url must be an http:// or https:// URL")
    if not parts.hostname:
        raise ConfigError("--notify-url has no host")
    if any(c in url for c in "\r\n\t ") or (port is not None and port == 0):
        raise ConfigError("--notify-url is not a valid URL")
    return url


def redacted(url: str) -> str:
    """What logs may say of the URL: scheme, host and port; no credentials, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}"


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """(the URL without user:password, the Authorization header they make, if any)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, {"Authorization": f"Basic {basic}"}


def event_time(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field(value: Any) -> Any:
    """A field's value as the event carries it (None: left out)."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, list | tuple):
        items = [str(v)[:MAX_STRING] for v in list(value)[:MAX_LIST] if isinstance(v, str)]
        return items
    return None  # a dict, bytes or an object: never passed on (values, diffs)


def build_event(kind: str, fields: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The JSON body of one notification (pure): type, time, and the allowed fields given
    (ValueError for an unknown type)."""
    if kind not in TYPES:
        raise ValueError(f"unknown notification type {kind!r}")
    event: dict[str, Any] = {"type": kind, "time": event_time(now)}
    for key, value in fields.items():
        name = EVENT_FIELDS.get(key)
        shown = _field(value)
        if name is not None and shown is not None:
            event[name] = shown
    return event


class Notifier:
    def __init__(
        self,
        url: str,
        *,
        on_outcome: Callable[[str], None] | None = None,
        queue_size: int = DEFAULT_QUEUE,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url, self._auth = split_credentials(check_notify_url(url))
        self._where = redacted(url)
        self._count = on_outcome or (lambda outcome: None)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(queue_size)
        self._timeout = timeout
        self._tries = 1 + max(0, retries)
        self._backoff = backoff
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        # No redirects (a 3xx is a failure: the event goes where it was configured to, or
        # nowhere) and no retries of urllib3's own (ours back off between tries).
        self._http = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False)

    def notify(self, kind: str, **fields: Any) -> None:
        """Queues one event; never blocks, never raises."""
        try:
            event = build_event(kind, fields, self._clock())
        except ValueError as e:
            LOG.warning("notification not sent: %s", e)
            self._count("invalid")
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._count("dropped")
            return
        self._ensure_sender()

    def _ensure_sender(self) -> None:
        with self._lock:
            if self._sender is None and not self._stop.is_set():
                self._sender = threading.Thread(
                    target=self._run, name="scipian-notify", daemon=True
                )
                self._sender.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._count("sent" if self._send(event) else "failed")

    def _send(self, event: dict[str, Any]) -> bool:
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self._auth}
        delay = self._backoff
        for attempt in range(self._tries):
            if attempt:
                if self._stop.wait(delay):
                    return False
                delay *= 2
            try:
                resp = self._http.request(
                    "POST",
                    self._url,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(total=self._timeout),
                    redirect=False,
                    preload_content=True,
                )
            except urllib3.exceptions.HTTPError as e:
                problem = type(e).__name__
            else:
                if 200 <= resp.status < 300:
                    return True
                problem = f"HTTP {resp.status}"
                if resp.status < 500 and resp.status not in (408, 429):
                    break  # the receiver refuses this event: trying again changes nothing
        LOG.warning("notification %s to %s not sent: %s", event["type"], self._where, problem)
        return False

    def close(self, wait: float = 5.0) -> None:
        """Stops the sender (server shutdown); what is still queued is not sent."""
        self._stop.set()
        with self._lock:
            sender = self._sender
        if sender is not None:
            sender.join(timeout=wait)
        self._http.clear()

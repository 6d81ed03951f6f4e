"""Logs on demand: a release's pods and one pod's last lines, then its new ones, read with
a read credential minted for the viewer at that moment (Backend.issue: the API's RBAC
check, audit line and rate limit). The credential lives in this request's memory and is
dropped with it; the lines pass through and are never stored (docs/decisions/push-or-pull.md).

A follow ends when the credential or the session expires, when the session signs out,
when the pod's log ends, or when the browser goes away (the upstream stream is closed,
which unblocks its reader thread). Its memory is bounded: lines are cut at `line_bytes`,
and at most QUEUE_LINES of them wait for a slow browser (the reader thread then stops
reading). How many follows may be open: ui/follows.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.errors import ApiError, Forbidden, NotFound, ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.ui.follows import Follow
from scipian_backend.usecases import Backend

MAX_TAIL = 1000
DEFAULT_TAIL = 100
QUEUE_LINES = 64  # lines read from the cluster that may wait for the browser, per follow
KEEPALIVE_SECONDS = 15.0
INSTANCE_LABEL = "app.kubernetes.io/instance"  # Helm's recommended label for a release's objects
_SIGNED_OUT = object()  # queued by Follow.end(): the session signed out


@dataclass(frozen=True)
class Viewer:
    """The target's API as the viewer, for one request: never stored, never printed."""

    api: client.ApiClient
    expires: datetime

    def __repr__(self) -> str:
        return f"Viewer(expires={self.expires})"

    def close(self) -> None:
        """Drops the connections (and with them the last use of the credential)."""
        with contextlib.suppress(Exception):
            self.api.rest_client.pool_manager.clear()  # ApiClient.close() leaves the sockets
            self.api.close()


def viewer(backend: Backend, env_id: str, who: Identity, request_id: str) -> Viewer:
    """A read credential minted for `who` on `env_id` (RBAC decides first, as for the API)."""
    issued = backend.issue(env_id, who, request_id)
    doc = json.loads(issued["kubeconfig"])
    expires = datetime.fromisoformat(issued["expirationTimestamp"].replace("Z", "+00:00"))
    return Viewer(kube.from_kubeconfig_dict(doc), expires)


def may_view(backend: Backend, env_id: str, who: Identity) -> None:
    """Whether `who` may read there, as the read credential's issuance decides it (RBAC's
    `get environments/kubeconfig`, else an approved, open read request), without minting
    one: no credential, no audit line. What the pods and logs pages ask before showing
    their frame; their data comes by POST."""
    if backend.authorizer.may_get_kubeconfig(who, env_id):
        return
    if backend.request_grant(who, env_id, "read") is None:
        raise Forbidden(f"{who.username} may not read environment {env_id}")


def release_pods(v: Viewer, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's pods (label app.kubernetes.io/instance=RELEASE): name, phase, containers."""
    try:
        resp = client.CoreV1Api(v.api).list_namespaced_pod(
            namespace,
            label_selector=f"{INSTANCE_LABEL}={release}",
            _request_timeout=10,
            _preload_content=False,
        )
        doc = kube.json_body(resp)
    except ApiException as e:
        raise _cluster_error(e, f"pods of {namespace}/{release}") from None
    except (HTTPError, ValueError):
        raise ServiceUnavailable("the environment's cluster is unreachable") from None
    pods = []
    for item in doc.get("items", []):
        meta, spec = item.get("metadata", {}), item.get("spec", {})
        pods.append(
            {
                "name": meta.get("name", ""),
                "phase": item.get("status", {}).get("phase", ""),
                "containers": [c.get("name", "") for c in spec.get("containers", [])],
            }
        )
    return sorted(pods, key=lambda p: p["name"])


async def follow(
    v: Viewer,
    namespace: str,
    pod: str,
    container: str | None,
    lines: int,
    *,
    line_bytes: int,
    until: float,
    handle: Follow | None = None,
) -> AsyncIterator[str]:
    """Server-sent events: `reset`, then one `line` per log line (the last `lines` first,
    then each new one, cut at `line_bytes`), comments to keep the connection alive, `end`
    when the log ends, the credential or the session (epoch `until`) expires, or the
    session signs out (`handle.end()`)."""
    loop = asyncio.get_running_loop()
    try:
        resp = await asyncio.to_thread(_open_follow, v, namespace, pod, container, lines)
    except ApiError as e:
        v.close()
        yield _sse("error", e.message)
        return
    # At most QUEUE_LINES lines wait for the browser: beyond, the reader thread stops
    # reading (the cluster holds the rest), so a browser that stops reading costs at most
    # QUEUE_LINES * line_bytes here.
    queue: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(QUEUE_LINES)
    stop = threading.Event()

    def pump() -> None:
        # Shut under it (the browser left) or the cluster went away: the stream just ends.
        try:
            with contextlib.suppress(Exception):
                for line in split_lines(resp.stream(4096, decode_content=True), line_bytes):
                    while not room.acquire(timeout=1.0):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            # Here, not on the event loop: close() takes the reader's lock, which a blocked
            # read holds (the loop would hang until the pod's next line).
            with contextlib.suppress(Exception):
                resp.close()
            v.close()
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, None)

    if handle is not None:
        handle.on_end(lambda: queue.put_nowait(_SIGNED_OUT))
    reader = threading.Thread(target=pump, name="scipian-ui-logs", daemon=True)
    reader.start()
    deadline = min(v.expires.timestamp(), until)
    try:
        yield _sse("reset", "")
        while True:
            left = deadline - time.time()
            if left <= 0:
                yield _sse("end", "the session or its read credential expired; reload to follow")
                return
            try:
                line = await asyncio.wait_for(queue.get(), min(KEEPALIVE_SECONDS, left))
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if line is None:
                yield _sse("end", "the log ended")
                return
            if line is _SIGNED_OUT or (handle is not None and handle.ended):
                yield _sse("end", "signed out")
                return
            room.release()
            yield _sse("line", str(line))
    finally:
        stop.set()
        _shut(resp)  # unblocks the reader thread if it still waits for a line


def _shut(resp: Any) -> None:
    """Ends a follow's upstream connection without waiting: a socket shutdown makes the
    reader thread's blocked read return at once (it then closes the response itself)."""
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is None:
        threading.Thread(target=resp.close, daemon=True).start()
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _open_follow(v: Viewer, ns: str, pod: str, container: str | None, lines: int) -> Any:
    try:
        return client.CoreV1Api(v.api).read_namespaced_pod_log(
            pod,
            ns,
            container=container or None,
            tail_lines=lines,
            follow=True,
            _request_timeout=(10, None),
            _preload_content=False,
        )
    except ApiException as e:
        raise _cluster_error(e, f"logs of {ns}/{pod}") from None
    except HTTPError:
        raise ServiceUnavailable("the environment's cluster is unreachable") from None


def split_lines(chunks: Iterable[bytes], max_bytes: int) -> Iterator[str]:
    """The lines of a byte stream, each cut at `max_bytes` (the rest of a longer line is
    dropped, and the cut is marked): a pod printing without newlines costs `max_bytes`."""
    pending = bytearray()
    cut = False
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if not cut:
                room = max_bytes - len(pending)
                if len(piece) > room:
                    pending += piece[:room]
                    cut = True
                    yield _text(pending) + f" [line cut at {max_bytes} bytes]"
                    pending.clear()
                else:
                    pending += piece
            if nl < 0:
                break
            if not cut:
                yield _text(pending)
            pending.clear()
            cut = False
            start = nl + 1
    if pending and not cut:
        yield _text(pending)


def _text(raw: bytearray) -> str:
    return bytes(raw).rstrip(b"\r").decode("utf-8", "replace")


def _sse(event: str, data: str) -> str:
    # One data line: the log line has no newline left, and a CR would split it in the browser.
    return f"event: {event}\ndata: {data.replace(chr(13), '')}\n\n"


def _cluster_error(e: ApiException, what: str) -> ApiError:
    """The cluster's answer in a sentence of ours (its body may quote the request)."""
    status = kube.status_of(e)
    if status == 404:
        return NotFound(f"{what}: not found")
    if status in (401, 403):
        return Forbidden(f"{what}: the cluster does not let you read them")
    if status == 400:
        return NotFound(f"{what}: no such container, or the pod has not started")
    return ServiceUnavailable(f"{what}: the cluster answered HTTP {status}")

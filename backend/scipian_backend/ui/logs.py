"""Logs on demand: a release's pods and one pod's last lines, then its new ones, read with
a read credential minted for the viewer at that moment (Backend.issue: the API's RBAC
check, audit line and rate limit). The credential lives in this request's memory and is
dropped with it; the lines pass through and are never stored (docs/decisions/push-or-pull.md).

A follow ends when the credential expires, when the pod's log ends, or when the browser
goes away (the upstream stream is closed, which unblocks its reader thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.errors import ApiError, Forbidden, NotFound, ServiceUnavailable
from scipian_backend.identity.authn import Identity
from scipian_backend.usecases import Backend

MAX_TAIL = 1000
DEFAULT_TAIL = 100
TAIL_BYTES = 512 * 1024  # what one page may carry at most (limitBytes)
KEEPALIVE_SECONDS = 15.0
INSTANCE_LABEL = "app.kubernetes.io/instance"  # Helm's recommended label for a release's objects


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


def tail(v: Viewer, namespace: str, pod: str, container: str | None, lines: int) -> list[str]:
    """The last `lines` lines of one container of a pod."""
    try:
        resp = client.CoreV1Api(v.api).read_namespaced_pod_log(
            pod,
            namespace,
            container=container or None,
            tail_lines=lines,
            limit_bytes=TAIL_BYTES,
            _request_timeout=10,
            _preload_content=False,
        )
        try:
            data = resp.data
        finally:
            resp.release_conn()
    except ApiException as e:
        raise _cluster_error(e, f"logs of {namespace}/{pod}") from None
    except HTTPError:
        raise ServiceUnavailable("the environment's cluster is unreachable") from None
    text: str = data.decode("utf-8", "replace")
    return text.splitlines()


async def follow(
    v: Viewer, namespace: str, pod: str, container: str | None, lines: int
) -> AsyncIterator[str]:
    """Server-sent events: `reset`, then one `data:` per line (the last `lines` first, then
    each new one), comments to keep the connection alive, `end` when the log ends."""
    loop = asyncio.get_running_loop()
    try:
        resp = await asyncio.to_thread(_open_follow, v, namespace, pod, container, lines)
    except ApiError as e:
        v.close()
        yield _sse("error", e.message)
        return
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        # Shut under it (the browser left) or the cluster went away: the stream just ends.
        try:
            with contextlib.suppress(Exception):
                for line in _lines(resp):
                    loop.call_soon_threadsafe(queue.put_nowait, line)
        finally:
            # Here, not on the event loop: close() takes the reader's lock, which a blocked
            # read holds (the loop would hang until the pod's next line).
            with contextlib.suppress(Exception):
                resp.close()
            v.close()
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, None)

    reader = threading.Thread(target=pump, name="scipian-ui-logs", daemon=True)
    reader.start()
    try:
        yield _sse("reset", "")
        while True:
            left = (v.expires - datetime.now(v.expires.tzinfo)).total_seconds()
            if left <= 0:
                yield _sse("end", "the read credential expired; reload to follow again")
                return
            try:
                line = await asyncio.wait_for(queue.get(), min(KEEPALIVE_SECONDS, left))
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if line is None:
                yield _sse("end", "the log ended")
                return
            yield _sse("line", line)
    finally:
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


def _lines(resp: Any) -> Iterator[str]:
    pending = b""
    for chunk in resp.stream(4096, decode_content=True):
        pending += chunk
        *done, pending = pending.split(b"\n")
        for raw in done:
            yield raw.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


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

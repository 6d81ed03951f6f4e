"""A light GET to the backend (a socket, and ssl for https) for read-only routes on a
command's start-up path: today the release reads of `ENV helm list|history|status`.

Why not the plugin's requests-based BackendClient: `helm history` through Scipian is
measured beside the real helm (bench: helm_history), and importing requests (or even
http.client) costs more than the whole answer. This speaks only what docs/api.md's release
routes need (one GET, a JSON answer, Retry-After on 429) and maps statuses as
BackendClient does. With a proxy in the environment (which requests honours and this does
not) `usable()` is False and the caller uses BackendClient.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from kubectl_scipian import __version__
from kubectl_scipian.errors import AuthError, BackendError, BackendUnreachable, EnvNotFound

log = logging.getLogger(__name__)

TIMEOUT = 60.0
MAX_RETRIES = 3
MAX_RETRY_AFTER = 30.0
PROXY_VARS = ("https_proxy", "http_proxy", "all_proxy")


def usable(environ: Mapping[str, str]) -> bool:
    return not any(environ.get(v) or environ.get(v.upper()) for v in PROXY_VARS)


def get(
    base: str,
    verify: bool | str,
    environ: Mapping[str, str],
    path: str,
    query: Mapping[str, str],
    id_token: str,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    url = urlsplit(base)
    target = f"{url.path.rstrip('/')}{path}" + (f"?{urlencode(query)}" if query else "")
    headers = {
        "Authorization": f"Bearer {id_token}",
        "X-Request-Id": _request_id(),
        "User-Agent": f"kubectl-scipian/{__version__}",
        "Accept": "application/json",
    }
    for attempt in range(MAX_RETRIES + 1):
        status, reason_header, body = _once(url, verify, environ, target, headers, base)
        if status != 429 or attempt == MAX_RETRIES:
            break
        delay = _retry_after(reason_header)
        log.debug("rate limited by the backend; retrying in %.1fs", delay)
        sleep(delay)
    return _answer(base, status, body)


def _once(
    url: Any,
    verify: bool | str,
    environ: Mapping[str, str],
    target: str,
    headers: dict[str, str],
    base: str,
) -> tuple[int, str | None, bytes]:
    started = time.monotonic()
    try:
        status, answer_headers, body = _exchange(url, verify, environ, target, headers)
    except OSError as err:
        if type(err).__module__ == "ssl" or "SSL" in type(err).__name__:
            raise BackendUnreachable(
                f"cannot reach the Scipian backend at {base}: TLS verification failed "
                "(pass --certificate-authority if it uses a private CA)"
            ) from None
        why = "timed out" if isinstance(err, TimeoutError) else "connection refused or host unknown"
        raise BackendUnreachable(f"cannot reach the Scipian backend at {base} ({why})") from None
    except ValueError:
        raise BackendUnreachable(
            f"cannot reach the Scipian backend at {base} (malformed HTTP answer)"
        ) from None
    log.debug(
        "GET %s%s -> %s in %.0f ms (request id %s)",
        base,
        target,
        status,
        (time.monotonic() - started) * 1000,
        answer_headers.get("x-request-id") or headers["X-Request-Id"],
    )
    return status, answer_headers.get("retry-after"), body


def _exchange(
    url: Any, verify: bool | str, environ: Mapping[str, str], target: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on a connection of its own, closed after the answer. A socket and
    these few lines instead of http.client, whose import (the email package, for header
    parsing) costs more than the whole exchange."""
    import socket

    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    sock: Any = socket.create_connection((host, port), timeout=TIMEOUT)
    try:
        if url.scheme == "https":
            sock = _tls(verify, environ).wrap_socket(sock, server_hostname=host)
        authority = host if url.port is None else f"{host}:{url.port}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {authority}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reader = sock.makefile("rb")
        status_line = reader.readline(65537).decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError("not an HTTP/1.x status line")
        answer: dict[str, str] = {}
        while True:
            line = reader.readline(65537).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        if "chunked" in answer.get("transfer-encoding", "").lower():
            body = _chunks(reader)
        elif "content-length" in answer:
            length = int(answer["content-length"])
            body = reader.read(length)
            if len(body) != length:
                raise ValueError("answer shorter than its Content-Length")
        else:
            body = reader.read()
        return int(parts[1]), answer, body
    finally:
        sock.close()


def _chunks(reader: Any) -> bytes:
    out = bytearray()
    while True:
        size = int(reader.readline(1024).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(65537).strip():  # trailers
                pass
            return bytes(out)
        out += reader.read(size)
        reader.readline(8)  # the chunk's CRLF


def _tls(verify: bool | str, environ: Mapping[str, str]) -> Any:
    """requests' trust: a CA file given, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else
    certifi's roots (what requests verifies with), else the system's."""
    import ssl

    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    cafile = verify if isinstance(verify, str) else None
    cafile = cafile or environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE")
    if cafile is None:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def _answer(base: str, status: int, raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: a hostile, deeply nested answer
        body = None
    if status == 200 and isinstance(body, dict):
        return body
    reason, message = "", ""
    if isinstance(body, dict):  # truncated, as BackendClient does
        from kubectl_scipian.support.untrusted import visible  # printed: escaped

        reason = visible(str(body.get("reason", ""))[:80])
        message = visible(str(body.get("message", ""))[:200])
    detail = f"HTTP {status} {reason}: {message}".strip(": ")
    if status in (401, 403):
        raise AuthError(detail)
    if status == 404 and reason == "NotFound":
        raise EnvNotFound(detail)
    if status == 400:
        raise BackendError(f"the Scipian backend rejected the request: {message or reason}")
    raise BackendError(f"the Scipian backend at {base} failed: {detail}")


def _request_id() -> str:
    """A random UUID's text (uuid imports platform and more for what these 16 bytes do)."""
    h = bytearray(os.urandom(16))
    h[6], h[8] = (h[6] & 0x0F) | 0x40, (h[8] & 0x3F) | 0x80  # version 4, RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _retry_after(value: str | None) -> float:
    try:
        delay = float(value or "1")
    except ValueError:
        delay = 1.0
    return min(max(delay, 0.0), MAX_RETRY_AFTER)

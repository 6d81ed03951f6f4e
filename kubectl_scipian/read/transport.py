"""HTTP GETs to the cluster (support/http1.py: a socket and ssl), raw paths only, retried
as client-go retries an answer that carries Retry-After; the answers' `Warning` headers go
to read/warnings.py.

Why not the `kubernetes` client's REST layer (urllib3): what a read needs of HTTP is one
kept-alive connection, GETs and streamed bodies, and importing urllib3 (with http.client
and the email package) cost a warm `get` more than everything else it does (bench:
get_warm). Requests go out as that layer sent them (the same headers, query encoding and
request target), TLS verifies as it did (the kubeconfig's CA, else certifi's roots; the
kubeconfig's tls-server-name), and failures of the connection or the answer's framing
become kubectl's connection messages (read/errors.py); any other failure is raised as
what it is.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from kubectl_scipian.read.errors import StatusError, status_error, transport_error
from kubectl_scipian.read.target import Target
from kubectl_scipian.support import http1

JSON = "application/json"
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
MAX_RETRIES = 10  # client-go's default maxRetries for a Retry-After answer


class Response:
    """A streamed answer: read it in chunks (or as JSON); either releases it at its end."""

    def __init__(self, answer: http1.Answer) -> None:
        self._answer = answer

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        try:
            while True:
                data = self._answer.read1(size)
                if not data:
                    return
                yield data
        except OSError as e:  # the connection or the framing failed mid-stream
            raise transport_error(e) from None
        finally:
            self._answer.release()

    def json(self) -> Any:
        try:
            data = self._answer.read()
        except OSError as e:
            raise transport_error(e) from None
        finally:
            self._answer.release()
        return json.loads(data)


class Client:
    """One kept-alive connection per run; every request is a raw path."""

    def __init__(
        self, target: Target, cache_dir: Path, warn: Callable[[Any], None] | None = None
    ) -> None:
        """`warn` receives the headers of every answer (read/warnings.py prints their warnings).
        `cache_dir` is unused since the CA goes to ssl as data; kept for the callers."""
        self.target = target
        self._warn = warn
        try:
            url = urlsplit(target.server)
            https = url.scheme == "https"
            port = url.port or (443 if https else 80)
            tls = _tls(target) if https else None
        except (ValueError, ssl.SSLError) as e:  # a malformed server URL or CA
            raise transport_error(e, target.server) from None
        self._prefix = url.path.rstrip("/")
        self._conn = http1.Connection(url.hostname or "", port, tls, target.tls_server_name)
        # What the kubernetes client's REST layer sent with every GET.
        self._headers = [
            ("User-Agent", "kubectl-scipian"),
            ("Accept-Encoding", "identity"),
            ("Content-Type", "application/json"),
        ]
        if target.token:
            self._headers.append(("Authorization", f"Bearer {target.token}"))

    def get(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        accept: str = JSON,
        timeout: float | None = None,
    ) -> Response:
        params = [(k, v) for k, v in (query or {}).items() if v is not None and v != ""]
        # client-go retries a 429 or 5xx that carries Retry-After (up to 10 times); so do we.
        for _ in range(MAX_RETRIES):
            try:
                return self._get(path, params, accept, timeout)
            except StatusError as e:
                if e.retry_after is None:
                    raise
                time.sleep(e.retry_after)
        return self._get(path, params, accept, timeout)

    def _get(
        self, path: str, params: list[tuple[str, Any]], accept: str, timeout: float | None
    ) -> Response:
        full = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = [*self._headers, ("Accept", accept)]
        try:
            answer = self._conn.get(http1.request_target(full), headers, timeout)
        except OSError as e:  # socket, TLS, or not an HTTP answer
            raise transport_error(e, self.target.server) from None
        if self._warn is not None:  # client-go handles an error answer's warnings too
            self._warn(answer.headers)
        if 200 <= answer.status <= 299:
            return Response(answer)
        try:
            body = answer.read()
        except OSError as e:
            raise transport_error(e, self.target.server) from None
        finally:
            answer.release()
        error = status_error(answer.status, body)
        error.retry_after = _retry_after(answer.status, answer.headers)
        raise error

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, accept: str = JSON
    ) -> Any:
        return self.get(path, query, accept).json()

    def close(self) -> None:
        self._conn.close()


def _tls(target: Target) -> ssl.SSLContext:
    """Verification as the kubernetes client's REST layer did it: the kubeconfig's CA, else
    certifi's roots; the host name (or tls-server-name) checked; none with
    insecure-skip-tls-verify."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if target.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif target.ca_data:
        ctx.load_verify_locations(cadata=target.ca_data.decode("latin-1"))
    else:
        import certifi  # comes with requests and the kubernetes client

        ctx.load_verify_locations(cafile=certifi.where())
    return ctx


def _retry_after(code: int, headers: Any) -> int | None:
    """client-go's checkWait: seconds to wait before retrying, None for no retry."""
    if code != 429 and code < 500:
        return None
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return max(int(value), 0) if value is not None else None
    except (TypeError, ValueError):
        return None

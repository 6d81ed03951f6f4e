"""HTTP to the cluster through the `kubernetes` client's ApiClient, raw paths only.

The generated model layer is never touched: responses stay bytes/JSON so that
printing is exactly kubectl's and large lists and logs can stream.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubectl_scipian.read.errors import StatusError, TransportError, Unauthorized

JSON = "application/json"
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)

_MEDIA = "the server was unable to respond with a content type that the client supports"
_TIMEOUT = (
    "the server was unable to return a response in the time allotted,"
    " but may still be processing the request"
)
# client-go's messages for error responses that carry no Status body
# (k8s.io/apimachinery/pkg/api/errors NewGenericServerResponse).
_GENERIC: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", "the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: (
        "NotAcceptable",
        "the server was unable to respond with a content type that the client supports",
    ),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "the server has asked for the client to provide credentials"),
    413: ("RequestEntityTooLarge", "the server has rejected the request because it is too large"),
    415: (
        "UnsupportedMediaType",
        "the server was unable to respond with a content type that the client supports",
    ),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: (
        "TooManyRequests",
        "the server has received too many requests and has asked us to try again later",
    ),
    500: ("InternalError", "an error on the server has prevented the request from succeeding"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", _TIMEOUT),
}


@dataclass(frozen=True)
class Target:
    """What a kubeconfig says about where and who (one context)."""

    server: str
    namespace: str
    token: str | None
    ca_data: bytes | None
    insecure: bool
    tls_server_name: str | None

    @property
    def host_port(self) -> str:
        parts = urlsplit(self.server)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"


def _named(items: Any, name: str | None) -> dict[str, Any]:
    for item in items or []:
        if name is None or item.get("name") == name:
            return dict(item)
    return {}


def target_from_kubeconfig(kubeconfig: Mapping[str, Any]) -> Target:
    ctx_name = kubeconfig.get("current-context") or None
    context = _named(kubeconfig.get("contexts"), ctx_name).get("context") or {}
    cluster = _named(kubeconfig.get("clusters"), context.get("cluster")).get("cluster") or {}
    user = _named(kubeconfig.get("users"), context.get("user")).get("user") or {}
    ca = cluster.get("certificate-authority-data")
    ca_data = base64.b64decode(ca) if ca else None
    if ca_data is None and cluster.get("certificate-authority"):
        ca_data = Path(cluster["certificate-authority"]).read_bytes()
    return Target(
        server=str(cluster.get("server", "")).rstrip("/"),
        namespace=context.get("namespace") or "default",
        token=user.get("token"),
        ca_data=ca_data,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
    )


def _ca_file(cache_dir: Path, data: bytes) -> str:
    """urllib3 (through the kubernetes client) wants a CA *file*: keep one per CA."""
    path = cache_dir / "ca" / (hashlib.sha256(data).hexdigest()[:32] + ".crt")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return str(path)


class Response:
    """A streamed answer: read it in chunks, release it when done."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        try:
            while True:
                data = self._raw.read1(size) if hasattr(self._raw, "read1") else None
                if data is None:
                    data = self._raw.read(size)
                if not data:
                    return
                yield data
        except Exception as e:  # urllib3 protocol errors mid-stream
            raise _transport_error(e) from None
        finally:
            self._raw.release_conn()

    def json(self) -> Any:
        try:
            data = self._raw.data
        except Exception as e:
            raise _transport_error(e) from None
        finally:
            self._raw.release_conn()
        return json.loads(data)


class Client:
    """One connection pool per run; every request is a raw path."""

    def __init__(self, target: Target, cache_dir: Path) -> None:
        from kubernetes.client.api_client import ApiClient
        from kubernetes.client.configuration import Configuration

        self.target = target
        conf = Configuration(host=target.server)
        conf.retries = False  # kubectl does not retry a refused connection
        conf.verify_ssl = not target.insecure
        if target.ca_data and not target.insecure:
            conf.ssl_ca_cert = _ca_file(cache_dir, target.ca_data)
        conf.tls_server_name = target.tls_server_name
        if target.token:
            self._api = ApiClient(conf, "Authorization", f"Bearer {target.token}")
        else:
            self._api = ApiClient(conf)
        self._api.user_agent = "kubectl-scipian"

    def get(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        accept: str = JSON,
        timeout: float | None = None,
    ) -> Response:
        from kubernetes.client.exceptions import ApiException

        params = [(k, v) for k, v in (query or {}).items() if v is not None and v != ""]
        try:
            raw = self._api.call_api(
                path,
                "GET",
                query_params=params,
                header_params={"Accept": accept},
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as e:
            if not e.status:
                raise _transport_error(e, self.target) from None
            raise status_error(e.status, e.body) from None
        except Exception as e:
            raise _transport_error(e, self.target) from None
        return Response(raw)

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, accept: str = JSON
    ) -> Any:
        return self.get(path, query, accept).json()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self._api.rest_client.pool_manager.clear()


def status_error(code: int, body: Any) -> StatusError:
    """The Status the server sent, or client-go's words for its code."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    status: dict[str, Any] = {}
    try:
        parsed = json.loads(body or "")
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            status = parsed
    except ValueError:
        pass
    if status:
        reason = status.get("reason", "")
        text = status.get("message", "") or _GENERIC.get(code, ("", ""))[1]
    elif code in _GENERIC:
        reason, text = _GENERIC[code]
    else:
        reason, text = (
            "",
            f"an error on the server ({body}) has prevented the request from succeeding",
        )
    cls = Unauthorized if code == 401 else StatusError
    return cls(code, reason, text, status)


def _causes(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        nxt = getattr(cause, "reason", None)
        cause = nxt if isinstance(nxt, BaseException) else (cause.__cause__ or cause.__context__)


def _transport_error(e: BaseException, target: Target | None = None) -> TransportError:
    """Go's words where we know them (cmdutil.StandardErrorMessage for url.Error)."""
    causes = list(_causes(e))
    host = urlsplit(target.server).netloc if target else ""
    if any(isinstance(c, ConnectionRefusedError) or "Connection refused" in str(c) for c in causes):
        return TransportError(
            f"The connection to the server {host} was refused"
            " - did you specify the right host or port?"
        )
    if any("CERTIFICATE_VERIFY_FAILED" in str(c) for c in causes):
        return TransportError(
            "Unable to connect to the server: tls: failed to verify certificate: "
            "x509: certificate signed by unknown authority"
        )
    if any(isinstance(c, (socket.timeout, TimeoutError)) for c in causes):
        return TransportError(f"Unable to connect to the server: dial tcp {host}: i/o timeout")
    return TransportError(f"Unable to connect to the server: {causes[-1]}")

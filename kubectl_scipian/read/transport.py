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
import re
import socket
import sys
import time
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from kubectl_scipian.lean import stand_ins
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


# -- the kubernetes client's REST layer, without its package-wide imports ------------------
#
# Why: `import kubernetes` (or `kubernetes.client`) imports config, dynamic, watch, stream
# and every generated API and model: ~150 ms of a `get` that kubectl answers in ~40 ms.
# What we use of it is `client.configuration`, `client.rest` and `client.exceptions`,
# which only need urllib3, six and `requests.utils.should_bypass_proxies`. So, for the
# kubernetes releases this was checked against (TESTED_MAJORS; the pin in setup.py),
# those three modules are loaded under placeholder parent packages, which are removed
# again afterwards: a later `import kubernetes` anywhere gets the real package. Anything
# unexpected (another release, a changed layout) falls back to the normal import, and
# tests/unit/test_perf_loader.py fails loudly so the next upgrade re-checks this.
TESTED_MAJORS = (36,)
MAX_RETRIES = 10  # client-go's default maxRetries for a Retry-After answer
_VERSION = re.compile(r"""^__version__\s*=\s*["'](\d+)\.""", re.M)


class KubeRest(NamedTuple):
    configuration: types.ModuleType  # kubernetes.client.configuration
    rest: types.ModuleType  # kubernetes.client.rest
    exceptions: types.ModuleType  # kubernetes.client.exceptions
    fast: bool  # loaded without the package __init__ modules


_kube_rest: KubeRest | None = None


def kube_rest() -> KubeRest:
    global _kube_rest
    if _kube_rest is None:
        _kube_rest = load_fast() or _load_normal()
    return _kube_rest


def _load_normal() -> KubeRest:
    from kubernetes.client import configuration, exceptions, rest

    return KubeRest(configuration, rest, exceptions, fast=False)


def supported_release(init_source: str) -> bool:
    """True when kubernetes/__init__.py names a release whose layout load_fast knows."""
    m = _VERSION.search(init_source)
    return m is not None and int(m.group(1)) in TESTED_MAJORS


def _should_bypass_proxies(url: str, no_proxy: str | None) -> bool:
    # rest.py imports this from requests only to use it when a proxy is configured:
    # import requests then, not on every run.
    from requests.utils import should_bypass_proxies

    return bool(should_bypass_proxies(url, no_proxy=no_proxy))


def load_fast() -> KubeRest | None:
    """The three modules without `kubernetes/__init__`; None when that is not safe."""
    if any(n == "kubernetes" or n.startswith("kubernetes.") for n in sys.modules):
        return None  # already imported in this process: share it
    import importlib
    import importlib.util

    spec = importlib.util.find_spec("kubernetes")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    try:
        # get_source rather than a file read: the same in a zipapp (make dist)
        source = spec.loader.get_source(spec.name) if spec.loader else None  # type: ignore[attr-defined]
    except (OSError, ImportError):
        return None
    if not source or not supported_release(source):
        return None
    placeholders: dict[str, types.ModuleType] = {}

    def package(name: str, path: Path | None) -> None:
        module = types.ModuleType(name)
        module.__path__ = [str(path)] if path else []
        placeholders[name] = module

    package("kubernetes", root)
    package("kubernetes.client", root / "client")
    if "requests" not in sys.modules:
        package("requests", None)
        utils = types.ModuleType("requests.utils")
        utils.should_bypass_proxies = _should_bypass_proxies  # type: ignore[attr-defined]
        placeholders["requests.utils"] = utils
    sys.modules.update(placeholders)
    try:
        with stand_ins(multiprocessing=True):  # see kubectl_scipian/lean.py
            loaded = KubeRest(
                configuration=importlib.import_module("kubernetes.client.configuration"),
                rest=importlib.import_module("kubernetes.client.rest"),
                exceptions=importlib.import_module("kubernetes.client.exceptions"),
                fast=True,
            )
        loaded.rest.RESTClientObject  # noqa: B018 (the names we use are there)
        loaded.configuration.Configuration  # noqa: B018
        loaded.exceptions.ApiException  # noqa: B018
    except Exception:
        loaded = None
    finally:
        # Private copies: nothing of this stays importable under the real names.
        for name in [n for n in sys.modules if n.split(".")[0] in ("kubernetes", "requests")]:
            if name in placeholders or name.startswith("kubernetes."):
                del sys.modules[name]
    return loaded


class Target(NamedTuple):
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
        rest = kube_rest()
        self.target = target
        self._api_exception: type[Exception] = rest.exceptions.ApiException
        conf = rest.configuration.Configuration(host=target.server)
        conf.retries = False  # kubectl does not retry a refused connection
        conf.verify_ssl = not target.insecure
        if target.ca_data and not target.insecure:
            conf.ssl_ca_cert = _ca_file(cache_dir, target.ca_data)
        conf.tls_server_name = target.tls_server_name
        # ApiClient would add only these two headers; it is skipped because importing it
        # imports every generated model (see kube_rest).
        self._headers = {"User-Agent": "kubectl-scipian"}
        if target.token:
            self._headers["Authorization"] = f"Bearer {target.token}"
        self._rest = rest.rest.RESTClientObject(conf)

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
        try:
            raw = self._rest.request(
                "GET",
                self.target.server + path,
                query_params=params,
                headers={**self._headers, "Accept": accept},
                _preload_content=False,
                _request_timeout=timeout,
            )
        except self._api_exception as e:
            status = getattr(e, "status", 0)
            if not status:
                raise _transport_error(e, self.target) from None
            error = status_error(status, getattr(e, "body", None))
            error.retry_after = _retry_after(status, getattr(e, "headers", None))
            raise error from None
        except Exception as e:
            raise _transport_error(e, self.target) from None
        return Response(raw)

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, accept: str = JSON
    ) -> Any:
        return self.get(path, query, accept).json()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self._rest.pool_manager.clear()


def _retry_after(code: int, headers: Any) -> int | None:
    """client-go's checkWait: seconds to wait before retrying, None for no retry."""
    if code != 429 and code < 500:
        return None
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return max(int(value), 0) if value is not None else None
    except (TypeError, ValueError):
        return None


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

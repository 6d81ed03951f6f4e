"""HTTP GETs to the cluster through the `kubernetes` client's REST layer (read/loader.py),
raw paths only, retried as client-go retries an answer that carries Retry-After; the
answers' `Warning` headers go to read/warnings.py.

The generated model layer is never touched: responses stay bytes/JSON so that printing is
exactly kubectl's and large lists and logs can stream. Only transport failures (urllib3's
and the socket's) become kubectl's connection messages (read/errors.py); any other failure
is raised as what it is.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian.read import loader
from kubectl_scipian.read.errors import StatusError, status_error, transport_error
from kubectl_scipian.read.target import Target, ca_path
from kubectl_scipian.support.lean import reason_of

JSON = "application/json"
TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
MAX_RETRIES = 10  # client-go's default maxRetries for a Retry-After answer


def _transport_failures() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions  # loaded with the REST layer already

    return (urllib3.exceptions.HTTPError, OSError)


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
        except _transport_failures() as e:  # urllib3 protocol errors mid-stream
            raise transport_error(e) from None
        finally:
            self._raw.release_conn()

    def json(self) -> Any:
        try:
            data = self._raw.data
        except _transport_failures() as e:
            raise transport_error(e) from None
        finally:
            self._raw.release_conn()
        return json.loads(data)


class Client:
    """One connection pool per run; every request is a raw path."""

    def __init__(
        self, target: Target, cache_dir: Path, warn: Callable[[Any], None] | None = None
    ) -> None:
        """`warn` receives the headers of every answer (read/warnings.py prints their warnings)."""
        self.target = target
        self._warn = warn
        ca = ca_path(target, cache_dir)
        rest = loader.kube_rest()
        try:
            self._rest = self._rest_client(rest, ca)
        except Exception as err:  # the fast-loaded modules differ from what we know
            if not rest.fast:
                raise
            rest = loader.fall_back(f"building its REST client: {reason_of(err)}")
            self._rest = self._rest_client(rest, ca)
        self._api_exception: type[Exception] = rest.exceptions.ApiException
        self._failures = _transport_failures()
        # ApiClient would add only these two headers; it is skipped because importing it
        # imports every generated model (see read/loader.py).
        self._headers = {"User-Agent": "kubectl-scipian"}
        if target.token:
            self._headers["Authorization"] = f"Bearer {target.token}"

    def _rest_client(self, rest: loader.KubeRest, ca: str | None) -> Any:
        conf = rest.configuration.Configuration(host=self.target.server)
        conf.retries = False  # kubectl does not retry a refused connection
        conf.verify_ssl = not self.target.insecure
        if ca is not None:
            conf.ssl_ca_cert = ca
        conf.tls_server_name = self.target.tls_server_name
        return rest.rest.RESTClientObject(conf)

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
            if not status:  # the REST layer's wrapping of a TLS failure
                raise transport_error(e, self.target.server) from None
            if self._warn is not None:  # client-go handles an error answer's warnings too
                self._warn(getattr(e, "headers", None))
            error = status_error(status, getattr(e, "body", None))
            error.retry_after = _retry_after(status, getattr(e, "headers", None))
            raise error from None
        except self._failures as e:
            raise transport_error(e, self.target.server) from None
        if self._warn is not None:
            self._warn(getattr(raw, "headers", None))
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

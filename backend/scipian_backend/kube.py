"""Kubernetes API clients built from kubeconfig text, a file, or the in-cluster config.

Each client owns its Configuration object: nothing goes through the `kubernetes` package's
process-wide default, so two backends (or a backend and the admin CLI) in one process never
share credentials by accident.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.errors import ConfigError, ServiceUnavailable

POOL_SIZE = 64  # concurrent requests per cluster; urllib3 blocks beyond it
# The kubernetes client writes a kubeconfig's certificate-authority-data to a temp file
# shared by the whole process, publishing its name (kube_config._temp_files, keyed by the
# content) before it writes the content: a second thread loading the same CA at that moment
# got the name of an empty file, and the kubeconfig issued from it no CA (its reader then
# trusted the system roots: "x509: certificate signed by unknown authority"). One load at
# a time; loads are rare (one per environment and broker Secret version).
_LOADER_LOCK = threading.Lock()


def from_kubeconfig_dict(doc: dict[str, Any], context: str | None = None) -> client.ApiClient:
    cfg = client.Configuration()
    with _LOADER_LOCK:
        loader = config.kube_config.KubeConfigLoader(config_dict=doc, active_context=context)
        loader.load_and_set(cfg)
    cfg.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(cfg)


def from_kubeconfig_file(path: str, context: str | None = None) -> client.ApiClient:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"kubeconfig {path} is not valid YAML") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig document")
    try:
        return from_kubeconfig_dict(doc, context)
    except (config.ConfigException, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"kubeconfig {path} is unusable: {_first_line(e)}") from None


def in_cluster() -> client.ApiClient:
    cfg = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=cfg)
    except config.ConfigException as e:
        raise ConfigError(f"no in-cluster config: {_first_line(e)}") from None
    cfg.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(cfg)


def mgmt_client(kubeconfig: str | None) -> client.ApiClient:
    return from_kubeconfig_file(kubeconfig) if kubeconfig else in_cluster()


@dataclass(frozen=True)
class ClusterEndpoint:
    """Where a target cluster is and how to trust it (never any credential)."""

    server: str
    ca_data: str  # base64 PEM, as kubeconfig's certificate-authority-data
    insecure: bool = False


def endpoint_of(api: client.ApiClient) -> ClusterEndpoint:
    """Raises ValueError for a CA file that is empty: an endpoint without its CA would be
    issued as one that trusts the system roots."""
    cfg = api.configuration
    ca = ""
    if cfg.ssl_ca_cert:
        with open(cfg.ssl_ca_cert, "rb") as f:
            pem = f.read()
        if not pem.strip():
            raise ValueError(f"the CA file of {cfg.host} is empty")
        ca = base64.b64encode(pem).decode()
    return ClusterEndpoint(cfg.host, ca, insecure=not cfg.verify_ssl)


def json_body(resp: Any) -> dict[str, Any]:
    """The JSON object of a response fetched with `_preload_content=False`, its connection
    back in the pool. Hot calls use it: the generated client's models (and dateutil for
    every timestamp) cost more CPU per call than the HTTP exchange on a local apiserver.
    Raises ValueError when the body is not a JSON object."""
    try:
        doc = json.loads(resp.data)
    finally:
        resp.release_conn()
    if not isinstance(doc, dict):
        raise ValueError("response is not a JSON object")
    return doc


def status_of(e: BaseException) -> int:
    return e.status if isinstance(e, ApiException) and isinstance(e.status, int) else 0


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


class AlreadyExists(Exception):
    """`ClusterObjects.create`: an object of that name exists already."""


class ObjectGone(Exception):
    """`ClusterObjects.update_status`: the object is not there (any more)."""


class Unchanged(Exception):
    """A status transition decided to write nothing; carries the object as read."""

    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__("unchanged")
        self.obj = obj


class ClusterObjects:
    """Cluster-scoped custom objects of one kind on mgmt: get, list, create and status
    writes with optimistic concurrency (the resourceVersion read; a 409 starts again from
    a fresh read, so two writers never lose each other's change). Bodies are read as JSON
    (json_body), never through the generated models. Failures of mgmt raise
    ServiceUnavailable ("management cluster unavailable (HTTP n)"), never its body."""

    def __init__(
        self,
        mgmt: client.ApiClient,
        group: str,
        version: str,
        plural: str,
        timeout: float = 10.0,
        attempts: int = 10,
    ) -> None:
        self._api = client.CustomObjectsApi(mgmt)
        self._where = (group, version, plural)
        self.timeout = timeout
        self._attempts = attempts

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.get_cluster_custom_object(
                    *self._where, name, _request_timeout=self.timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise unavailable(e) from None

    def list(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Every object (matching the selector), as read."""
        extra = {"label_selector": label_selector} if label_selector else {}
        try:
            doc = json_body(
                self._api.list_cluster_custom_object(
                    *self._where, _request_timeout=self.timeout, _preload_content=False, **extra
                )
            )
        except (ApiException, HTTPError, ValueError) as e:
            raise unavailable(e) from None
        return [o for o in doc.get("items") or [] if isinstance(o, dict)]

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as created; AlreadyExists when its name is taken."""
        try:
            return json_body(
                self._api.create_cluster_custom_object(
                    *self._where, obj, _request_timeout=self.timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if status_of(e) == 409:
                raise AlreadyExists(str((obj.get("metadata") or {}).get("name"))) from None
            raise unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise unavailable(e) from None

    def update_status(
        self, name: str, transition: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(before, after): `transition` maps the object read to its new status; None or
        the same status writes nothing (after is before). It may raise to refuse (Unchanged
        among others). ObjectGone when the object is not there; ServiceUnavailable after
        `attempts` conflicts in a row."""
        for _ in range(self._attempts):
            obj = self.get(name)
            if obj is None:
                raise ObjectGone(name)
            status = transition(obj)
            if status is None or status == obj.get("status"):
                return obj, obj
            try:
                after = json_body(
                    self._api.replace_cluster_custom_object_status(
                        *self._where,
                        name,
                        dict(obj, status=status),
                        _request_timeout=self.timeout,
                        _preload_content=False,
                    )
                )
            except ApiException as e:
                if status_of(e) == 409:
                    continue
                raise unavailable(e) from None
            except (HTTPError, ValueError) as e:
                raise unavailable(e) from None
            return obj, after
        raise ServiceUnavailable(f"{self._where[2]} {name}: too many concurrent changes, try again")


def unavailable(e: BaseException) -> ServiceUnavailable:
    """A failure of mgmt in the API's words (its status, never its body)."""
    status = status_of(e)
    return ServiceUnavailable(
        "management cluster unavailable" + (f" (HTTP {status})" if status else "")
    )

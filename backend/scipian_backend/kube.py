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
from datetime import datetime, timezone
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.errors import ConfigError, InternalError, ServiceUnavailable

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


STAMP = "%Y-%m-%dT%H:%M:%SZ"  # the times the backend writes on objects: RFC 3339, seconds, UTC


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(STAMP)


def parse_stamp(value: object) -> datetime | None:
    """A time as `stamp` writes it, or None (not a string, or another shape)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


class AlreadyExists(Exception):
    """`ClusterObjects.create`: an object of that name exists already."""


class ObjectGone(InternalError):
    """`ClusterObjects.update_status`: the object is not there (any more): a 500 unless
    the caller says otherwise (an Environment's status: 404)."""


class Unchanged(Exception):
    """A status transition decided to write nothing; carries the object as read."""

    def __init__(self, obj: dict[str, Any]) -> None:
        super().__init__("unchanged")
        self.obj = obj

    @property
    def promo(self) -> dict[str, Any]:  # promotions' callers' name for it
        return self.obj


# The object as read → its new status (None or the same: nothing to write); it may raise
# to refuse (Unchanged among others).
Transition = Callable[[dict[str, Any]], dict[str, Any] | None]


class ClusterObjects:
    """Cluster-scoped custom objects of one kind on mgmt (Promotions, AccessRequests,
    Environments' status): get, list, create, status writes with optimistic concurrency
    (the resourceVersion read; a 409 starts again from a fresh read, so two writers never
    lose each other's change), delete, and a wait for one object's next change. Bodies
    are read as JSON (json_body), never through the generated models. Failures of mgmt
    raise ServiceUnavailable ("management cluster unavailable (HTTP n)"), never its body."""

    def __init__(
        self,
        mgmt: client.ApiClient,
        group: str,
        version: str,
        plural: str,
        timeout: float = 10.0,
        *,
        attempts: int = 10,
        noun: str = "",
    ) -> None:
        self._api = client.CustomObjectsApi(mgmt)
        self._where = (group, version, plural)
        self._timeout = timeout
        self._attempts = attempts
        self._noun = noun or plural

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.get_cluster_custom_object(
                    *self._where, name, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise unavailable(e) from None

    def list(self, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Every object (matching the selector), oldest first."""
        extra = {"label_selector": label_selector} if label_selector else {}
        try:
            doc = json_body(
                self._api.list_cluster_custom_object(
                    *self._where, _request_timeout=self._timeout, _preload_content=False, **extra
                )
            )
        except (ApiException, HTTPError, ValueError) as e:
            raise unavailable(e) from None
        items = [o for o in doc.get("items") or [] if isinstance(o, dict)]
        return sorted(
            items,
            key=lambda o: (
                str(o.get("metadata", {}).get("creationTimestamp", "")),
                str(o.get("metadata", {}).get("name", "")),
            ),
        )

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as created; AlreadyExists when its name is taken."""
        try:
            return json_body(
                self._api.create_cluster_custom_object(
                    *self._where, obj, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if status_of(e) == 409:
                raise AlreadyExists(str((obj.get("metadata") or {}).get("name"))) from None
            raise unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise unavailable(e) from None

    def update_status(
        self, name: str, transition: Transition
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(before, after): `transition` maps the object read to its new status; None or
        the same status writes nothing (after is before). ObjectGone when the object is not
        there; ServiceUnavailable after `attempts` conflicts in a row."""
        for _ in range(self._attempts):
            obj = self.get(name)
            if obj is None:
                raise ObjectGone(f"{self._noun} {name} disappeared")
            status = transition(obj)
            if status is None or status == obj.get("status"):
                return obj, obj
            try:
                after = json_body(
                    self._api.replace_cluster_custom_object_status(
                        *self._where,
                        name,
                        dict(obj, status=status),
                        _request_timeout=self._timeout,
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
        raise ServiceUnavailable(f"{self._noun} {name}: too many concurrent changes, try again")

    def delete(self, name: str) -> None:
        """Deletes an object nothing was done for yet (a creation that failed half way):
        its finalizers are dropped first, as there is nothing for them to undo."""
        try:
            resp = self._api.patch_cluster_custom_object(
                *self._where,
                name,
                {"metadata": {"finalizers": None}},
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            resp.drain_conn()
            resp = self._api.delete_cluster_custom_object(
                *self._where, name, _request_timeout=self._timeout, _preload_content=False
            )
            resp.drain_conn()
        except ApiException as e:
            if status_of(e) != 404:
                raise unavailable(e) from None
        except HTTPError as e:
            raise unavailable(e) from None

    def wait_change(self, name: str, resource_version: str, seconds: float) -> None:
        """Returns at the first change of the object after `resource_version` (a watch on
        mgmt from that version), or after `seconds`; the caller reads it again. A version
        mgmt no longer has (410) returns at once: the object has changed since. Any event
        ends the wait (an ERROR one too): the caller reads the object as it is."""
        try:
            resp = self._api.list_cluster_custom_object(
                *self._where,
                field_selector=f"metadata.name={name}",
                resource_version=resource_version,
                allow_watch_bookmarks=False,
                watch=True,
                timeout_seconds=max(1, int(seconds)),
                _request_timeout=(self._timeout, seconds + self._timeout),
                _preload_content=False,
            )
        except ApiException as e:
            if status_of(e) in (400, 410):
                return
            raise unavailable(e) from None
        except HTTPError as e:
            raise unavailable(e) from None
        try:
            resp.read(1)  # the first byte of the first event (or of the end: a timeout)
        except (HTTPError, OSError):
            pass  # a read timeout or a cut stream: the object as it is now
        finally:
            resp.close()  # the rest of the stream is not wanted: never back to the pool


def read_secret(
    core: client.CoreV1Api,
    name: str,
    namespace: str,
    timeout: float,
    *,
    message: str = "",
) -> dict[str, Any] | None:
    """One Secret as JSON (json_body), or None when there is none (404). Any other failure,
    or a body that is not a JSON object, raises ServiceUnavailable: `message` when given
    (the caller's own words), else `unavailable(e)`'s."""
    try:
        return json_body(
            core.read_namespaced_secret(
                name, namespace, _request_timeout=timeout, _preload_content=False
            )
        )
    except ApiException as e:
        if status_of(e) == 404:
            return None
        raise (ServiceUnavailable(message) if message else unavailable(e)) from None
    except (HTTPError, ValueError) as e:
        raise (ServiceUnavailable(message) if message else unavailable(e)) from None


def unavailable(e: BaseException) -> ServiceUnavailable:
    """A failure of mgmt in the API's words (its status, never its body)."""
    status = status_of(e)
    return ServiceUnavailable(
        "management cluster unavailable" + (f" (HTTP {status})" if status else "")
    )

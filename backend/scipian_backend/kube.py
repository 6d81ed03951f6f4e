"""Kubernetes API clients built from kubeconfig text, a file, or the in-cluster config.

Each client owns its Configuration object: nothing goes through the `kubernetes` package's
process-wide default, so two backends (or a backend and the admin CLI) in one process never
share credentials by accident.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from scipian_backend.errors import ConfigError

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

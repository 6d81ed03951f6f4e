"""The ExecCredential that an exec kubeconfig runs (`kubectl scipian ENV credential`).

The token comes from the same cache, locks and refresh as the read commands
(`Credentials.kubeconfig`). It is the only output that ever carries a secret, and only on
stdout, where the calling client reads it. Whether we may prompt comes from the caller's
KUBERNETES_EXEC_INFO (`spec.interactive`): kubectl says false when it has no terminal.

A cached token can die before its expiry (revoked, its session Secret deleted). kubectl
would then fail on every run, since it asks us again and we would hand out the same dead
token. So a cached token is first shown to the cluster (`GET /version`, one round trip):
on 401 it is dropped and a new one fetched once, as the read commands do.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubectl_scipian.access.credentials import KUBECONFIG_MARGIN
from kubectl_scipian.backend import issued
from kubectl_scipian.errors import ConfigError
from kubectl_scipian.support.files import ca_file
from kubectl_scipian.support.timefmt import rfc3339

if TYPE_CHECKING:
    from kubectl_scipian.access.cache import CachedKubeconfig
    from kubectl_scipian.wiring import Wiring

log = logging.getLogger(__name__)

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
API_VERSIONS = (V1, V1BETA1)
EXEC_INFO_VAR = "KUBERNETES_EXEC_INFO"
PROBE_TIMEOUT = (3.0, 5.0)
JUST_FETCHED = 5.0  # seconds: a token this young was just issued; no need to check it


def issue(
    wired: Wiring,
    env_id: str,
    environ: Mapping[str, str],
    interactive: bool,
    reason: str | None = None,
) -> str:
    """The ExecCredential for `env_id` as one JSON line (it holds the token); with a
    `reason`, a deploy-level one (Credentials.deploy_kubeconfig)."""
    api_version, asked = exec_info(environ)
    if asked is not None:
        interactive = asked
    clock = wired.credentials.clock

    def fetch() -> CachedKubeconfig:
        if reason is not None:
            return wired.credentials.deploy_kubeconfig(env_id, reason, interactive=interactive)
        return wired.credentials.kubeconfig(env_id, interactive=interactive)

    item = fetch()
    token = issued.token_of(issued.document(item.kubeconfig))
    if clock() - item.fetched_at > JUST_FETCHED and _rejected(
        item, token, wired.cache.read_cache_dir(env_id)
    ):
        log.debug("the cluster rejects the cached token for %s; fetching a new one", env_id)
        wired.credentials.drop(item)
        item = fetch()
        token = issued.token_of(issued.document(item.kubeconfig))
    expiry = handout_expiry(item.expires_at, item.fetched_at, clock(), KUBECONFIG_MARGIN)
    return json.dumps(exec_credential(api_version, token, expiry)) + "\n"


def exec_info(environ: Mapping[str, str]) -> tuple[str, bool | None]:
    """(apiVersion to answer in, spec.interactive or None) from KUBERNETES_EXEC_INFO.

    No variable (a person running the command) means v1 and "ask the terminal".
    """
    raw = environ.get(EXEC_INFO_VAR)
    if not raw:
        return V1, None
    try:
        info = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{EXEC_INFO_VAR} is not JSON") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{EXEC_INFO_VAR} is not a JSON object")
    version = info.get("apiVersion") or V1
    if version not in API_VERSIONS:
        raise ConfigError(
            f"{EXEC_INFO_VAR} asks for {version}; supported: {', '.join(API_VERSIONS)}"
        )
    spec = info.get("spec")
    interactive = spec.get("interactive") if isinstance(spec, dict) else None
    return str(version), interactive if isinstance(interactive, bool) else None


def exec_credential(api_version: str, token: str, expires_at: float) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {},
        "status": {"token": token, "expirationTimestamp": rfc3339(expires_at)},
    }


def handout_expiry(expires_at: float, fetched_at: float, now: float, margin: float) -> float:
    """When clients should run us again: a little before the token dies, as our cache would.

    Never in the past: a client given a past expiry would run the plugin on every request.
    """
    early = expires_at - min(margin, max(expires_at - fetched_at, 0.0) / 4)
    return early if early > now else expires_at


def _rejected(item: CachedKubeconfig, token: str, ca_dir: Path) -> bool:
    """True only on a clear 401; anything else (unreachable, TLS) is the client's to report."""
    import requests

    cluster, _ = issued.current_entries(issued.document(item.kubeconfig))
    try:
        response = requests.get(
            str(cluster["server"]).rstrip("/") + "/version",
            headers={"Authorization": f"Bearer {token}"},
            verify=_verify(cluster, ca_dir),
            timeout=PROBE_TIMEOUT,
        )
    except (requests.RequestException, OSError, KeyError, ValueError) as err:
        log.debug("token check skipped: %s", type(err).__name__)
        return False
    return response.status_code == 401


def _verify(cluster: dict[str, Any], ca_dir: Path) -> bool | str:
    if cluster.get("insecure-skip-tls-verify"):
        return False
    data = cluster.get("certificate-authority-data")
    if not data:
        return str(cluster.get("certificate-authority") or True)
    return ca_file(ca_dir, base64.b64decode(data))

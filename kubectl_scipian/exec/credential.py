"""`kubectl scipian ENV credential`: the ExecCredential that an exec kubeconfig runs.

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

import argparse
import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from kubectl_scipian import app, execcred
from kubectl_scipian.commands.env import parse_kubeconfig
from kubectl_scipian.context import Context
from kubectl_scipian.credentials import KUBECONFIG_MARGIN
from kubectl_scipian.store import CachedKubeconfig

log = logging.getLogger(__name__)

PROBE_TIMEOUT = (3.0, 5.0)
JUST_FETCHED = 5.0  # seconds: a token this young was just issued; no need to check it


def run(args: argparse.Namespace, ctx: Context) -> int:
    api_version, interactive = execcred.exec_info(ctx.environ)
    if interactive is None:
        interactive = ctx.interactive
    wired = app.build(args, ctx)
    item = wired.credentials.kubeconfig(args.env_id, interactive=interactive)
    token = execcred.token_of(parse_kubeconfig(item))
    if ctx.clock() - item.fetched_at > JUST_FETCHED and _rejected(
        item, token, wired.cache.read_cache_dir(args.env_id)
    ):
        log.debug("the cluster rejects the cached token for %s; fetching a new one", args.env_id)
        wired.credentials.drop(item)
        item = wired.credentials.kubeconfig(args.env_id, interactive=interactive)
        token = execcred.token_of(parse_kubeconfig(item))
    expiry = execcred.handout_expiry(
        item.expires_at, item.fetched_at, ctx.clock(), KUBECONFIG_MARGIN
    )
    doc = execcred.exec_credential(api_version, token, expiry)
    ctx.stdout.write(json.dumps(doc) + "\n")
    return 0


def _rejected(item: CachedKubeconfig, token: str, ca_dir: Path) -> bool:
    """True only on a clear 401; anything else (unreachable, TLS) is the client's to report."""
    import requests

    cluster, _ = execcred.current_entries(parse_kubeconfig(item))
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
    pem = base64.b64decode(data)
    # Content-addressed: written once, never half-written for a parallel reader.
    path = ca_dir / f"ca-{hashlib.sha256(pem).hexdigest()[:16]}.crt"
    if not path.exists():
        tmp = path.with_suffix(f".{id(pem)}.tmp")
        tmp.write_bytes(pem)
        tmp.replace(path)
    return str(path)

"""`kubectl scipian ENV get|describe|logs ...`: a kubeconfig for ENV, then the read command.

A 401 from the cluster (raised by `read` before it printed anything) means the cached
kubeconfig's token died early (its Secret deleted, the cluster restarted): drop it, fetch a
new one once, and try again. A second 401 is the cluster's answer, shown in kubectl's words.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian import app
from kubectl_scipian.context import Context
from kubectl_scipian.errors import BackendError, ClusterUnauthorized
from kubectl_scipian.store import CachedKubeconfig


def run(args: argparse.Namespace, ctx: Context) -> int:
    if "-h" in args.args or "--help" in args.args:
        # Help needs no backend and no credential; the read command prints its own.
        return _read(args, ctx, {}, Path(os.devnull))
    wired = app.build(args, ctx)
    item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
    cache_dir = wired.cache.read_cache_dir(args.env_id)
    try:
        return _read(args, ctx, parse_kubeconfig(item), cache_dir)
    except ClusterUnauthorized:
        wired.credentials.drop(item)
        item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
        return _read(args, ctx, parse_kubeconfig(item), cache_dir)


def _read(
    args: argparse.Namespace, ctx: Context, kubeconfig: Mapping[str, Any], cache_dir: Any
) -> int:
    from kubectl_scipian import read  # the kubernetes client comes in only here

    status: int = read.run(
        args.verb,
        list(args.args),
        kubeconfig,
        env_id=args.env_id,
        cache_dir=cache_dir,
        stdout=ctx.stdout_bytes,
        stderr=ctx.stderr,
    )
    return status


def parse_kubeconfig(item: CachedKubeconfig) -> dict[str, Any]:
    parsed: object = None
    if item.kubeconfig.startswith("{"):
        # Cached as JSON (see issued.as_json): no YAML parser on the warm path.
        import json

        try:
            parsed = json.loads(item.kubeconfig)
        except ValueError:
            parsed = None
    if parsed is None:
        import yaml  # comes with the kubernetes client

        try:
            parsed = yaml.safe_load(item.kubeconfig)
        except yaml.YAMLError:
            # No detail: a YAML error quotes the document, and the document holds a token.
            raise BackendError("the backend issued a kubeconfig that is not valid YAML") from None
    if not isinstance(parsed, dict):
        raise BackendError("the backend issued a kubeconfig that is not a mapping")
    return parsed

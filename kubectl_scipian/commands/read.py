"""`kubectl scipian ENV get|describe|logs ...`: a kubeconfig for ENV, then the read command.

A 401 from the cluster (raised by `read` before it printed anything) means the cached
kubeconfig's token died early (its Secret deleted, the cluster restarted): drop it, fetch a
new one once, and try again. A second 401 is the cluster's answer, shown in kubectl's words.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian import wiring
from kubectl_scipian.backend import issued
from kubectl_scipian.context import Context
from kubectl_scipian.errors import ClusterUnauthorized


def run(args: argparse.Namespace, ctx: Context) -> int:
    if "-h" in args.args or "--help" in args.args:
        # Help needs no backend and no credential; the read command prints its own.
        return _read(args, ctx, {}, Path(os.devnull))
    wired = wiring.build(args, ctx)
    item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
    cache_dir = wired.cache.read_cache_dir(args.env_id)

    def renew() -> Mapping[str, Any]:
        # A watch whose credential died after it printed the list: a new one, once.
        nonlocal item
        wired.credentials.drop(item)
        item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
        return issued.document(item.kubeconfig)

    try:
        return _read(args, ctx, issued.document(item.kubeconfig), cache_dir, renew)
    except ClusterUnauthorized:
        wired.credentials.drop(item)
        item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
        return _read(args, ctx, issued.document(item.kubeconfig), cache_dir)


def _read(
    args: argparse.Namespace,
    ctx: Context,
    kubeconfig: Mapping[str, Any],
    cache_dir: Any,
    renew: Callable[[], Mapping[str, Any]] | None = None,
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
        renew=renew,
    )
    return status

"""`kubectl scipian logout [ENV | --all]`.

    logout        this backend: revoke and forget the login, forget its cached kubeconfigs
    logout ENV    this backend: forget the cached kubeconfigs of ENV only (login stays)
    logout --all  every backend: forget every login and every cached kubeconfig

Only credentials go; config.json and the read commands' discovery caches stay.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from kubectl_scipian import config as configuration
from kubectl_scipian import wiring
from kubectl_scipian.access.cache import BackendCache, all_backends, read_json
from kubectl_scipian.access.credentials import valid_env_id
from kubectl_scipian.access.login import revoke
from kubectl_scipian.backend.client import new_session
from kubectl_scipian.context import Context
from kubectl_scipian.errors import EnvNotFound
from kubectl_scipian.support.files import remove


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.all:
        return _all(args, ctx)
    wired = wiring.build(args, ctx)
    if args.env_id is not None:
        if not valid_env_id(args.env_id):
            raise EnvNotFound(f"{args.env_id!r} is not an environment id")
        removed = _remove_env(wired.cache.kubeconfigs(), args.env_id, ctx)
        print(f"Removed {removed} cached credential(s) for {args.env_id}.", file=ctx.stdout)
        return 0
    with wired.cache.login_lock():
        login = wired.cache.load_login()
        if login is not None:
            wired.auth.revoke(login)
            wired.cache.remove_login()
        removed = wired.cache.remove_all_kubeconfigs()
    state = "Logged out" if login is not None else "Was not logged in"
    print(
        f"{state} of {wired.config.backend_url}; removed {removed} cached credential(s).",
        file=ctx.stdout,
    )
    return 0


def _remove_env(paths: Iterable[Path], env_id: str, ctx: Context) -> int:
    removed = 0
    for path in paths:
        record = read_json(path, warn=ctx.stderr)
        if record is not None and record.get("environment") == env_id:
            removed += remove(path)
    return removed


def _all(args: argparse.Namespace, ctx: Context) -> int:
    directory = configuration.config_dir(ctx.environ)
    logins = kubeconfigs = 0
    session = new_session(True)
    for root in all_backends(directory / "cache"):
        marker = read_json(root / "backend.json", warn=ctx.stderr) or {}
        url = marker.get("backend")
        if isinstance(url, str):
            login = BackendCache(directory / "cache", url, warn=ctx.stderr).load_login()
            if login is not None:
                revoke(login, session)
        logins += remove(root / "login.json")
        kubeconfigs += sum(remove(p) for p in (root / "kubeconfigs").glob("*.json"))
    print(
        f"Removed {logins} login(s) and {kubeconfigs} cached credential(s) for every backend.",
        file=ctx.stdout,
    )
    return 0

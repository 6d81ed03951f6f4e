"""`kubectl scipian dev,prod|@group get|describe|logs ...`: one read across environments.

Each environment runs in its own thread (credentials from the shared cache and its locks,
then the read command into buffers); the outputs are joined in the order the environments
were named (`kubectl_scipian.multienv`), and each environment's failures follow on stderr
as `<env>: <message>` lines. Exit 1 when any environment failed.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubectl_scipian import app, multienv
from kubectl_scipian import config as configuration
from kubectl_scipian.commands.env import parse_kubeconfig
from kubectl_scipian.context import Context
from kubectl_scipian.errors import (
    AuthError,
    ClusterUnauthorized,
    EnvNotFound,
    LoginRequired,
    ScipianError,
)

MAX_PARALLEL = 8
OBJECT_FORMATS = ("json", "yaml")
TABLE_FORMATS = ("", "wide", "custom-columns")


def run(args: argparse.Namespace, ctx: Context) -> int:
    argv = list(args.args)
    if "-h" in argv or "--help" in argv:
        from kubectl_scipian.commands import env

        return env.run(argparse.Namespace(**{**vars(args), "env_id": "help"}), ctx)
    mode = _mode(args.verb, argv)
    wired = app.build(args, ctx)
    if wired.cache.load_login() is None and not ctx.interactive:
        raise LoginRequired("not logged in")  # once, not once per environment
    groups = multienv.config_groups(configuration.read_file(wired.config.config_dir))
    env_ids = multienv.resolve(args.env_id, groups, lambda: _all_envs(wired, ctx))
    if not env_ids:
        print("No environments to read from.", file=ctx.stderr)
        return 1
    read_argv = multienv.with_output(argv, "json") if mode == "objects" else argv
    _warm_up(args.verb)
    with ThreadPoolExecutor(min(len(env_ids), MAX_PARALLEL)) as pool:
        results = list(pool.map(lambda e: _one(wired, ctx, e, args.verb, read_argv, mode), env_ids))
    _print(results, mode, argv, ctx)
    return 1 if any(r.failed for r in results) else 0


def _mode(verb: str, argv: list[str]) -> str:
    if verb != "get":
        if verb == "logs" and multienv.has_flag(argv, "-f", "--follow"):
            raise multienv.SelectionError("logs -f follows one environment at a time")
        return "sections"
    if multienv.has_flag(argv, "-w", "--watch", "--watch-only"):
        raise multienv.SelectionError("get --watch reads one environment at a time")
    kind = multienv.output_format(argv).partition("=")[0]
    if kind in OBJECT_FORMATS:
        return "objects"
    if kind in TABLE_FORMATS:
        return "table"
    raise multienv.SelectionError(
        f"output format {kind!r} is not supported across environments "
        "(use a table, wide, custom-columns, json or yaml)"
    )


def _all_envs(wired: app.App, ctx: Context) -> list[str]:
    login = wired.auth.valid_login(interactive=ctx.interactive)
    return [e.id for e in wired.backend.environments(login.id_token)]


def _warm_up(verb: str) -> None:
    # Imported here, once, before the threads: module imports are not the place to race.
    from kubectl_scipian import read
    from kubectl_scipian.read import client, session

    read.VERBS  # noqa: B018 - the import is the point
    session.Session  # noqa: B018
    loader: Callable[[], Any] | None = getattr(client, "kube_rest", None)
    if loader is not None:
        loader()


def _one(
    wired: app.App, ctx: Context, env_id: str, verb: str, argv: list[str], mode: str
) -> multienv.EnvResult:
    result = multienv.EnvResult(env_id)
    try:
        item = wired.credentials.kubeconfig(env_id, interactive=ctx.interactive)
        try:
            _read(wired, result, item, verb, argv, mode)
        except ClusterUnauthorized:
            # As for one environment: the cached token died early, fetch a new one once.
            wired.credentials.drop(item)
            item = wired.credentials.kubeconfig(env_id, interactive=ctx.interactive)
            _read(wired, multienv_reset(result), item, verb, argv, mode)
    except ScipianError as err:
        result.error = message(err)
    return result


def multienv_reset(result: multienv.EnvResult) -> multienv.EnvResult:
    result.stdout, result.stderr, result.tables, result.status = b"", "", [], 0
    return result


def _read(
    wired: app.App, result: multienv.EnvResult, item: Any, verb: str, argv: list[str], mode: str
) -> None:
    from kubectl_scipian import read

    out, err = io.BytesIO(), io.StringIO()
    result.status = read.run(
        verb,
        list(argv),
        parse_kubeconfig(item),
        env_id=result.env,
        cache_dir=wired.cache.read_cache_dir(result.env),
        stdout=out,
        stderr=err,
        table_sink=result.tables.append if mode == "table" else None,
    )
    result.stdout, result.stderr = out.getvalue(), err.getvalue()


def message(err: ScipianError) -> str:
    """The line `cli.report` would print for this error alone."""
    if isinstance(err, (AuthError, EnvNotFound, ClusterUnauthorized)):
        return str(err)
    return f"error: {err}"


def _print(results: list[multienv.EnvResult], mode: str, argv: list[str], ctx: Context) -> None:
    out = ctx.stdout_bytes
    wrote = False
    if mode == "table":
        from kubectl_scipian.read.printers.table import render

        tables = multienv.join_tables(results, no_headers=multienv.has_flag(argv, "--no-headers"))
        for i, lines in enumerate(tables):
            out.write(("\n" if i else "").encode() + render(lines).encode())
            wrote = True
    elif mode == "objects":
        from kubectl_scipian.read.printers.jsonyaml import to_json, to_yaml

        doc = multienv.join_objects(r for r in results if not r.error)
        if doc["items"] or not all(r.failed for r in results):  # kubectl prints empty Lists
            kind = multienv.output_format(argv).partition("=")[0]
            out.write((to_json(doc) if kind == "json" else to_yaml(doc)).encode())
            wrote = True
    else:
        for result in results:
            if result.stdout:
                out.write((b"\n" if wrote else b"") + multienv.section_header(result.env))
                out.write(result.stdout if result.stdout.endswith(b"\n") else result.stdout + b"\n")
                wrote = True
    out.flush()
    drop = mode != "sections"
    messages = [m for r in results for m in multienv.error_lines(r, drop_no_resources=drop)]
    if mode == "table" and not wrote and not any(r.failed for r in results):
        messages.append(multienv.NO_RESOURCES)
    for line in messages:
        print(line, file=ctx.stderr)

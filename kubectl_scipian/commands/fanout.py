"""`kubectl scipian dev,prod|@group get|describe|logs ...`: one read across environments
(kubectl_scipian.fanout: which environments, reading them, merging the outputs).
Exit 1 when any environment failed."""

from __future__ import annotations

import argparse

from kubectl_scipian import config as configuration
from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.errors import LoginRequired
from kubectl_scipian.fanout import flags, merge, runner, selection


def run(args: argparse.Namespace, ctx: Context) -> int:
    argv = list(args.args)
    if "-h" in argv or "--help" in argv:
        from kubectl_scipian.commands import read

        return read.run(argparse.Namespace(**{**vars(args), "env_id": "help"}), ctx)
    mode = flags.mode(args.verb, argv)
    wired = wiring.build(args, ctx)
    if wired.cache.load_login() is None and not ctx.interactive:
        raise LoginRequired("not logged in")  # once, not once per environment
    groups = selection.config_groups(configuration.read_file(wired.config.config_dir))
    env_ids = selection.resolve(args.env_id, groups, lambda: _all_envs(wired, ctx))
    if not env_ids:
        print("No environments to read from.", file=ctx.stderr)
        return 1
    if mode == "watch":
        from kubectl_scipian.fanout.watch import watch_all

        return watch_all(
            wired, env_ids, argv, ctx.stdout_bytes, ctx.stderr, interactive=ctx.interactive
        )
    read_argv = flags.with_output(argv, "json") if mode == "objects" else argv
    results = runner.read_all(
        wired, env_ids, args.verb, read_argv, tables=mode == "table", interactive=ctx.interactive
    )
    merge.write(results, mode, argv, ctx.stdout_bytes, ctx.stderr)
    return 1 if any(r.failed for r in results) else 0


def _all_envs(wired: wiring.Wiring, ctx: Context) -> list[str]:
    login = wired.auth.valid_login(interactive=ctx.interactive)
    return [e.id for e in wired.backend.environments(login.id_token)]

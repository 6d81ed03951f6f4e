"""`kubectl scipian promotions [NAME] [--diff ENV] [-o wide|json|yaml] [--watch]`: the
Promotions of the management cluster as RBAC lets the caller read them (`get`/`list` on
`promotions`, scipian.io), one step's diff (change.md §6), or one promotion followed to
its end (the exit codes of `promote`)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context
from kubectl_scipian.errors import UsageError
from kubectl_scipian.promotions import flags, printers
from kubectl_scipian.promotions.api import Api


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring

    if opts.name:
        flags.check_name(opts.name)
    elif opts.diff or opts.watch:
        raise UsageError(f"--{'diff' if opts.diff else 'watch'} needs a promotion NAME")
    if opts.diff:
        flags.check_env(opts.diff, "--diff")
        if opts.watch:
            raise UsageError("--diff and --watch do not go together")
    api = Api(wiring.build(opts, ctx), ctx)
    if opts.name and opts.diff:
        diff = api.diff(opts.name, opts.diff)
        if opts.output in ("json", "yaml"):
            ctx.stdout.write(printers.structured(diff, opts.output))
        else:
            ctx.stdout.write(printers.diff_text(diff))
        return 0
    if opts.name:
        promo = api.get(opts.name)
        if opts.watch:
            from kubectl_scipian.promotions.watch import to_end

            return to_end(api, promo, ctx)
        if opts.output in ("json", "yaml"):
            ctx.stdout.write(printers.structured(promo, opts.output))
        elif opts.output == "wide":
            ctx.stdout.write(printers.list_table([promo], wide=True))
        else:
            ctx.stdout.write(printers.describe(promo))
        return 0
    items = [p for p in api.list()["items"] if isinstance(p, dict)]
    if opts.output in ("json", "yaml"):
        ctx.stdout.write(printers.structured(printers.as_list(items), opts.output))
    elif items:
        ctx.stdout.write(printers.list_table(items, wide=opts.output == "wide"))
    else:
        print("No resources found", file=ctx.stderr)  # kubectl's words for an empty list
    return 0

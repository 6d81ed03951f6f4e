"""`kubectl scipian promotions [NAME] [-o wide|json|yaml]`: the Promotions of the management
cluster as RBAC lets the caller read them (`get`/`list` on `promotions`, scipian.io)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context
from kubectl_scipian.promotions import printers
from kubectl_scipian.promotions.api import Api


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring

    api = Api(wiring.build(opts, ctx), ctx)
    if opts.name:
        promo = api.get(opts.name)
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

"""`kubectl scipian requests [NAME] [-o wide|json|yaml]`: the access requests the caller may
see (their own, and those of environments they may approve), as `kubectl get accessrequest`
shows them: its printer columns, or -o json|yaml byte for byte (a kubectl List)."""

from __future__ import annotations

import argparse

from kubectl_scipian.accessrequests import flags, printers
from kubectl_scipian.context import Context


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.accessrequests.api import RequestsApi
    from kubectl_scipian.promotions.printers import as_list, structured

    if opts.name:
        flags.check_name(opts.name)
    api = RequestsApi(wiring.build(opts, ctx), ctx)
    if opts.name:
        obj = api.get(opts.name)
        if opts.output in ("json", "yaml"):
            ctx.stdout.write(structured(obj, opts.output))
        else:
            ctx.stdout.write(printers.list_table([obj], wide=opts.output == "wide"))
        return 0
    items = [i for i in api.list()["items"] if isinstance(i, dict)]
    items.sort(key=printers.name_of)  # the apiserver's order: by name
    if opts.output in ("json", "yaml"):
        ctx.stdout.write(structured(as_list(items), opts.output))
    elif items:
        ctx.stdout.write(printers.list_table(items, wide=opts.output == "wide"))
    else:
        print("No resources found", file=ctx.stderr)  # kubectl's words for an empty list
    return 0

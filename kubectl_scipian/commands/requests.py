"""`kubectl scipian requests [NAME]`: access requests (accessrequests/show.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.accessrequests import show

    return show.run(args, ctx)

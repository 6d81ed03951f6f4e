"""`kubectl scipian promotions [NAME]`: promotions and their steps (promotions/show.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.promotions import show

    return show.run(args, ctx)

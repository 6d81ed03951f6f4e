"""`kubectl scipian promote ...`: a chart through a chain of environments (promote.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.promotions import promote

    return promote.run(args, ctx)

"""`kubectl scipian cancel NAME --reason TEXT` (promotions/cancel.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.promotions import cancel

    return cancel.run(args, ctx)

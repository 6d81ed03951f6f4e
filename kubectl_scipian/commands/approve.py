"""`kubectl scipian approve NAME --step ENV --reason TEXT` (promotions/approve.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.promotions import approve

    return approve.run(args, ctx)

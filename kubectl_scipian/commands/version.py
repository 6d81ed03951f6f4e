"""`kubectl scipian version`."""

from __future__ import annotations

import argparse

from kubectl_scipian import __version__
from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    print(f"kubectl-scipian {__version__}", file=ctx.stdout)
    return 0

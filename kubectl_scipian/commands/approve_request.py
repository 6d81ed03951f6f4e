"""`kubectl scipian approve-request NAME --reason TEXT` (accessrequests/decide.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.accessrequests import decide

    return decide.run(args, ctx)

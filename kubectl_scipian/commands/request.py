"""`kubectl scipian ENV request read|deploy ...` and `ENV request --cancel NAME`
(accessrequests/request.py)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context


def run(args: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.accessrequests import request

    return request.run(args, ctx)

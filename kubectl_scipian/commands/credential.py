"""`kubectl scipian ENV credential`: print the ExecCredential an exec kubeconfig runs
(kubectl_scipian.exec.credential)."""

from __future__ import annotations

import argparse

from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.exec.credential import issue


def run(args: argparse.Namespace, ctx: Context) -> int:
    wired = wiring.build(args, ctx)
    ctx.stdout.write(issue(wired, args.env_id, ctx.environ, ctx.interactive))
    return 0

"""`kubectl scipian ENV credential [--level deploy --reason TEXT]`: print the ExecCredential an
exec kubeconfig runs (kubectl_scipian.exec.credential)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from kubectl_scipian import wiring
from kubectl_scipian.context import Context
from kubectl_scipian.errors import UsageError
from kubectl_scipian.exec.credential import issue


def run(args: argparse.Namespace, ctx: Context) -> int:
    reason = deploy_reason(args, ctx.environ)
    wired = wiring.build(args, ctx)
    ctx.stdout.write(issue(wired, args.env_id, ctx.environ, ctx.interactive, reason))
    return 0


def deploy_reason(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """None for a read credential; for `--level deploy` the checked reason (--reason, else
    $SCIPIAN_REASON), or one clear line and exit 2."""
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    if args.level != "deploy":
        if args.reason is not None:
            raise UsageError("--reason is only for --level deploy")
        return None
    return check_reason(args.reason if args.reason is not None else environ.get(REASON_VAR))

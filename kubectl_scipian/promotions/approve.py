"""`kubectl scipian approve NAME --step ENV --reason TEXT`: one approval of a promotion's
step, with the approver's own fresh login (step-up) and reason; the backend checks the
rest (RBAC `create environments/approve`, never the initiator, not twice)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context
from kubectl_scipian.errors import UsageError
from kubectl_scipian.promotions import printers
from kubectl_scipian.promotions.api import Api
from kubectl_scipian.promotions.flags import ENV_ID


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    if not ENV_ID.fullmatch(opts.step) or len(opts.step) > 63:
        raise UsageError(f"--step: {opts.step!r} is not an environment id")
    reason = check_reason(opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR))
    api = Api(wiring.build(opts, ctx), ctx)
    promo = api.approve(opts.name, opts.step, reason)
    step = next((s for s in printers.steps(promo) if s.get("environment") == opts.step), {})
    have = len(step.get("approvals") or [])
    need = step.get("approvalsRequired", have)
    print(
        f"promotion {opts.name}: {opts.step} approved ({have} of {need}); "
        f"step {printers.one_line(step.get('phase', ''))}",
        file=ctx.stdout,
    )
    return 0

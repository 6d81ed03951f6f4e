"""`kubectl scipian cancel NAME --reason TEXT`: ask the backend to cancel a promotion
(`POST /api/v1/promotions/NAME/cancel`). The backend decides who may (the initiator,
whoever may deploy to every environment of the chain, or `update promotions/cancel`) and
enacts it; the promotion ends `Cancelled` (`promotions NAME --watch` exits 4 then)."""

from __future__ import annotations

import argparse

from kubectl_scipian.context import Context
from kubectl_scipian.promotions import flags, printers
from kubectl_scipian.promotions.api import Api


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    name = flags.check_name(opts.name)
    reason = check_reason(opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR))
    promo = Api(wiring.build(opts, ctx), ctx).cancel(name, reason)
    phase = printers.phase_of(promo) or "Running"
    print(
        f"promotion {name}: cancel requested (now {phase}); "
        f"watch: kubectl scipian promotions {name} --watch",
        file=ctx.stdout,
    )
    return 0

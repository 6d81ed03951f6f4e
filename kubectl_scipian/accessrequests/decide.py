"""`kubectl scipian approve-request|deny-request|revoke-request NAME --reason TEXT`: one
decision on someone else's access request, with the decider's reason and own fresh login
(the backend's step-up challenge: a login on a terminal, a hint without one). The backend
checks the rest (RBAC `create environments/approve` on the request's environment, never
the requester, an approver counted once; change.md §9)."""

from __future__ import annotations

import argparse
from typing import Any

from kubectl_scipian.accessrequests import flags, printers
from kubectl_scipian.context import Context

ACTIONS = {  # command → (route, what the line says)
    "approve-request": ("approvals", "approved"),
    "deny-request": ("denials", "denied"),
    "revoke-request": ("revoke", "revoked"),
}


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.access.credentials import REASON_VAR
    from kubectl_scipian.accessrequests.api import RequestsApi

    route, done = ACTIONS[opts.command]
    name = flags.check_name(opts.name)
    given = opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR)
    reason = flags.reason_of(given, opts.command)
    obj = RequestsApi(wiring.build(opts, ctx), ctx).decide(name, route, reason)
    print(decision_line(name, done, obj), file=ctx.stdout)
    return 0


def decision_line(name: str, done: str, obj: dict[str, Any]) -> str:
    """`request NAME: approved (1 of 1); now Approved` (pure)."""
    from kubectl_scipian.support.untrusted import visible

    phase = printers.phase_of(obj) or "Pending"
    count = f" ({printers.approvals_text(obj).replace('/', ' of ')})" if done == "approved" else ""
    return visible(f"request {name}: {done}{count}; now {phase}")

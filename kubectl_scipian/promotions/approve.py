"""`kubectl scipian approve NAME --step ENV --reason TEXT [--diff-digest D]`: one approval
of a promotion's step, bound to the diff the approver read (change.md §6). On a terminal
the diff is shown and confirmed; without one, `--diff-digest` says which diff was read
(from `promotions NAME --diff ENV`). The approver's own fresh login (step-up) and reason;
the backend checks the rest (RBAC `create environments/approve`, never the initiator, not
twice, 409 when the digest is not the step's)."""

from __future__ import annotations

import argparse
import sys

from kubectl_scipian.context import Context
from kubectl_scipian.errors import UsageError
from kubectl_scipian.promotions import flags, printers
from kubectl_scipian.promotions.api import Api

NEEDS_DIGEST = (
    "approve without a terminal needs --diff-digest D: the digest of the diff you read "
    "(kubectl scipian promotions {name} --diff {env})"
)


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    name = flags.check_name(opts.name)
    env = flags.check_env(opts.step, "--step")
    reason = check_reason(opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR))
    digest = flags.check_digest(opts.diff_digest) if opts.diff_digest else ""
    terminal = ctx.interactive and _is_terminal(ctx.stderr)  # stdin and stderr
    if not digest and not terminal:
        raise UsageError(NEEDS_DIGEST.format(name=name, env=env))
    api = Api(wiring.build(opts, ctx), ctx)
    if terminal:
        diff = api.diff(name, env)
        ctx.stderr.write(printers.diff_text(diff))
        if digest and diff["digest"] != digest:
            raise UsageError(
                f"--diff-digest {digest} is not this diff's ({diff['digest']}): read it again"
            )
        digest = str(diff["digest"])
        print(f"Approve step {env} of promotion {name}? [y/N] ", end="", file=ctx.stderr)
        ctx.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("not approved", file=ctx.stderr)
            return 1
    promo = api.approve(name, env, reason, digest)
    step = next((s for s in printers.steps(promo) if s.get("environment") == env), {})
    have = len(step.get("approvals") or [])
    need = step.get("approvalsRequired", have)
    print(
        f"promotion {name}: {env} approved ({have} of {need}); "
        f"step {printers.one_line(step.get('phase', ''))}",
        file=ctx.stdout,
    )
    return 0


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False

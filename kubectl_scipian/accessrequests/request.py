"""`kubectl scipian ENV request read|deploy --for 2h --reason TEXT [-n NS ...] [--wait]`:
ask for access to ENV for a while (change.md §9); prints the request's name on stdout,
how to have it approved on stderr, and with `--wait` follows it to a decision (wait.py).

`kubectl scipian ENV request --cancel NAME [--reason TEXT]`: withdraw your own request
(Pending, or Approved: its credentials stop at once).
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl_scipian.accessrequests import flags, printers
from kubectl_scipian.context import Context
from kubectl_scipian.errors import EnvNotFound, Refused, UsageError


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian.access.credentials import REASON_VAR, valid_env_id

    if not valid_env_id(opts.env_id):  # the read commands' answer to a malformed id
        raise EnvNotFound(f"{opts.env_id!r} is not an environment id")
    given = opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR)
    if opts.cancel is not None:
        conflict = flags.cancel_conflicts(opts)
        if conflict is not None:
            raise UsageError(f"--cancel NAME takes no {conflict}: it withdraws a request")
        name = flags.check_name(opts.cancel)
        return _cancel(opts, ctx, name, flags.reason_of(given, "request --cancel", optional=True))
    new = flags.new_request(opts, given)
    from kubectl_scipian import wiring
    from kubectl_scipian.accessrequests.api import RequestsApi

    api = RequestsApi(wiring.build(opts, ctx), ctx)
    body: dict[str, Any] = {
        "level": new.level,
        "durationSeconds": new.duration_seconds,
        "justification": new.justification,
    }
    if new.namespaces:
        body["namespaces"] = new.namespaces
    obj = api.ask(opts.env_id, body)
    name = printers.name_of(obj)
    print(name, file=ctx.stdout, flush=True)
    if not opts.wait:
        print(
            f"request {name}: {printers.phase_of(obj) or 'Pending'}; an approver runs: "
            f"kubectl scipian approve-request {name} --reason TEXT",
            file=ctx.stderr,
        )
        return 0
    from kubectl_scipian.accessrequests import wait
    from kubectl_scipian.promotions.watch import is_terminal

    status = wait.Status(ctx.stderr, is_terminal(ctx.stderr))
    decided, code = wait.until_decided(api, obj, status)
    if decided is not None and code == flags.EXIT_APPROVED:
        print(wait.use_line(decided), file=ctx.stderr)
    return code


def _cancel(opts: argparse.Namespace, ctx: Context, name: str, reason: str) -> int:
    from kubectl_scipian import wiring
    from kubectl_scipian.accessrequests.api import RequestsApi

    api = RequestsApi(wiring.build(opts, ctx), ctx)
    # The route takes no environment: the one named on the command line must be the
    # request's, so that a wrong ENV (or name) cancels nothing.
    env = printers.environment_of(api.get(name))
    if env != opts.env_id:
        from kubectl_scipian.support.untrusted import visible

        raise Refused(f"request {name} is of environment {visible(env)}, not {opts.env_id}")
    obj = api.cancel(name, reason)
    print(f"request {name}: {printers.phase_of(obj) or 'Cancelled'}", file=ctx.stdout)
    return 0

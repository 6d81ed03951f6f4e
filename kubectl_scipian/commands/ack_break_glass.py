"""`kubectl scipian ENV ack-break-glass ID --reason TEXT`: acknowledge someone else's
break-glass on ENV, with a reason and a fresh login (step-up); the backend checks the rest
(RBAC `create environments/approve` there, never the one who broke the glass, once)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from kubectl_scipian.context import Context

if TYPE_CHECKING:
    import requests

ID = re.compile(r"^[0-9a-f]{16}$")  # the backend's break-glass ids


def run(args: argparse.Namespace, ctx: Context) -> int:
    from urllib.parse import quote

    from kubectl_scipian import wiring
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason, valid_env_id
    from kubectl_scipian.errors import EnvNotFound, UsageError

    if not valid_env_id(args.env_id):  # the read commands' answer to a malformed id
        raise EnvNotFound(f"{args.env_id!r} is not an environment id")
    if not ID.fullmatch(args.id):
        raise UsageError(f"{args.id!r} is not a break-glass id (16 hexadecimal characters)")
    given = args.reason if args.reason is not None else ctx.environ.get(REASON_VAR)
    if not (given or "").strip():
        raise UsageError(f"ack-break-glass needs --reason TEXT (or {REASON_VAR}): why it is fine")
    reason = check_reason(given)
    api = _api(wiring.build(args, ctx), ctx)
    path = (
        f"/api/v1/environments/{quote(args.env_id, safe='')}/breakglass/{args.id}/acknowledgement"
    )
    api.acknowledge(path, reason)
    print(f"break-glass {args.id} on {args.env_id} acknowledged", file=ctx.stdout)
    return 0


def _api(wired: Any, ctx: Context) -> Any:
    from kubectl_scipian.errors import EnvNotFound
    from kubectl_scipian.promotions.api import Api

    class BreakGlassApi(Api):
        """The promotion API's login, step-up and error mapping, for this one route."""

        def acknowledge(self, path: str, reason: str) -> dict[str, Any]:
            body = {"justification": reason}
            return self._call("POST", path, body, step_up=True, check=False)

        def _answer(self, response: requests.Response, kind: str) -> dict[str, Any]:
            if response.status_code == 404:
                from kubectl_scipian.backend.client import error_of

                _, message = error_of(response)
                if message.startswith("no environment "):
                    raise EnvNotFound(f"HTTP 404: {message}")
            return super()._answer(response, kind)

    return BreakGlassApi(wired, ctx)

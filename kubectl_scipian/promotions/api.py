"""The backend's promotion routes (docs/api.md "Promotions"), through backend/client.py's
session, with the login each needs and the contract's error mapping:

    401 + RFC 9470 challenge  → a fresh login with its max_age, one retry (where a step-up
                                belongs: upload, create, approve, cancel)
    401 otherwise             → refresh once, else the RFC's authentication line
    403 of an environment     → the RFC's authentication line
    403/404 of a promotion    → kubectl's `Error from server (Forbidden|NotFound): ...`
    404 of an environment     → `Invalid environment referenced.`
    403 gate, 400, 409, 410,  → `error: <the backend's message>`
    413, 429, 507
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kubectl_scipian.errors import (
    ENV_MESSAGE,
    AuthError,
    BackendError,
    EnvNotFound,
    FreshLoginRequired,
    Refused,
    ServerRefused,
    StepUpRequired,
)

if TYPE_CHECKING:
    import requests

    from kubectl_scipian.access.cache import Login
    from kubectl_scipian.context import Context
    from kubectl_scipian.wiring import Wiring

ROOT = "/api/v1/promotions"
CHARTS = "/api/v1/charts"
# Longer than any wait of the backend's long poll: it answers when the promotion changes.
WATCH_READ_TIMEOUT = 120.0
# The backend's environment checks say "<user> may not <verb> environment <id>".
ENV_DENIAL = re.compile(r" may not [a-z ]+ environment ")
PROMOTION_ANSWER = "the Scipian backend sent a malformed promotion answer"


def _q(text: str) -> str:
    return quote(text, safe="")


class Api:
    def __init__(self, wired: Wiring, ctx: Context) -> None:
        self._wired = wired
        self._ctx = ctx

    # -- the routes ----------------------------------------------------------------------

    def upload(self, digest: str, through: list[str], data: bytes) -> dict[str, Any]:
        """PUT the chart archive under its digest, for the chain it is for (§5)."""
        path = f"{CHARTS}/{_q(digest)}?through={_q(','.join(through))}"
        return self._call("PUT", path, None, step_up=True, kind="upload", check=False, data=data)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", ROOT, body, step_up=True, kind="create")

    def get(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"{ROOT}/{_q(name)}", None, kind="read")

    def watch(self, name: str, resource_version: str) -> dict[str, Any]:
        """The long poll: the promotion once it differs from `resource_version` (or as it
        is when the backend's wait ends)."""
        path = f"{ROOT}/{_q(name)}?watch=true&resourceVersion={_q(resource_version)}"
        return self._call("GET", path, None, kind="read", read_timeout=WATCH_READ_TIMEOUT)

    def list(self) -> dict[str, Any]:
        body = self._call("GET", ROOT, None, kind="read", check=False)
        if not isinstance(body.get("items"), list):
            raise BackendError(PROMOTION_ANSWER)
        return body

    def diff(self, name: str, env: str) -> dict[str, Any]:
        path = f"{ROOT}/{_q(name)}/steps/{_q(env)}/diff"
        body = self._call("GET", path, None, kind="read", check=False)
        if not isinstance(body.get("objects"), list) or not isinstance(body.get("digest"), str):
            raise BackendError("the Scipian backend sent a malformed diff")
        return body

    def approve(self, name: str, env: str, justification: str, digest: str) -> dict[str, Any]:
        path = f"{ROOT}/{_q(name)}/steps/{_q(env)}/approvals"
        body = {"justification": justification, "diffDigest": digest}
        return self._call("POST", path, body, step_up=True)

    def cancel(self, name: str, justification: str) -> dict[str, Any]:
        path = f"{ROOT}/{_q(name)}/cancel"
        return self._call("POST", path, {"justification": justification}, step_up=True)

    # -- the machinery -------------------------------------------------------------------

    def login(self) -> Login:
        return self._wired.auth.valid_login(interactive=self._ctx.interactive)

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        step_up: bool = False,
        kind: str = "",
        check: bool = True,
        data: bytes | None = None,
        read_timeout: float = 60.0,
        retry: bool = True,
    ) -> dict[str, Any]:
        def send(token: str) -> requests.Response:
            return self._wired.backend.send(
                method,
                path,
                id_token=token,
                json=body,
                data=data,
                content_type="application/gzip" if data is not None else "",
                read_timeout=read_timeout,
                retry=retry,
            )

        login = self.login()
        response = send(login.id_token)
        if response.status_code == 401:
            from kubectl_scipian.backend.client import step_up_max_age

            max_age = step_up_max_age(response.headers.get("WWW-Authenticate", ""))
            if max_age is not None and step_up:
                if not self._ctx.interactive:
                    raise FreshLoginRequired(max_age, f"HTTP 401 on {path}")
                login = self._wired.auth.step_up(max_age, stale_token=login.id_token)
            elif max_age is None and login.refresh_token is not None:
                login = self._wired.auth.valid_login(
                    interactive=self._ctx.interactive, rejected_token=login.id_token
                )
            response = send(login.id_token)
        answer = self._answer(response, kind)
        if check and not isinstance(answer.get("spec"), dict):
            raise BackendError(PROMOTION_ANSWER)
        return answer

    def _answer(self, response: requests.Response, kind: str) -> dict[str, Any]:
        from kubectl_scipian.backend.client import error_of, step_up_max_age

        status = response.status_code
        if status in (200, 201, 204):
            try:
                body = response.json()
            except (ValueError, RecursionError):
                body = {} if kind == "upload" else None
            if not isinstance(body, dict):
                raise BackendError(PROMOTION_ANSWER)
            return body
        reason, message = error_of(response, 500)
        detail = f"HTTP {status} {reason}: {message}"
        if status == 401:
            max_age = step_up_max_age(response.headers.get("WWW-Authenticate", ""))
            if max_age is not None:
                raise StepUpRequired(max_age, detail)
            raise AuthError(detail)
        if status in (403, 404) and kind == "read":
            raise ServerRefused(reason or ("Forbidden" if status == 403 else "NotFound"), message)
        if status == 403:
            if kind == "create" or not message or ENV_DENIAL.search(message):
                raise AuthError(detail)
            raise Refused(message)
        if status == 404:
            if message == ENV_MESSAGE or (kind == "create" and not message):
                raise EnvNotFound(detail)
            if message.startswith("promotions.scipian.io "):
                raise ServerRefused(reason or "NotFound", message)
            raise Refused(message or "not found")
        if status in (400, 409, 410, 413, 429, 507) and message:
            raise Refused(message)
        raise BackendError(
            f"the Scipian backend at {self._wired.config.backend_url} failed: {detail}"
        )

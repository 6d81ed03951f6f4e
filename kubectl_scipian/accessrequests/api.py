"""The backend's access request routes (docs/api.md "Access requests"), with the login,
step-up and error mapping of the promotion routes (promotions/api.py):

    403 of the environment (create)       → the RFC's authentication line
    404 of the environment (create)       → `Invalid environment referenced.`
    403/404 of a request read             → kubectl's `Error from server (...): ...`
    403 of a decision (self-approval, ..) → `error: <the backend's message>`
    400, 409, 429                         → `error: <the backend's message>`
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kubectl_scipian.errors import BackendError, EnvNotFound, ServerRefused
from kubectl_scipian.promotions.api import WATCH_READ_TIMEOUT, Api

if TYPE_CHECKING:
    import requests

ROOT = "/api/v1/accessrequests"
ANSWER = "the Scipian backend sent a malformed access request answer"
# The apiserver's words for a missing object, which the backend passes on.
NOT_FOUND_PREFIX = "accessrequests.scipian.io "


def _q(text: str) -> str:
    return quote(text, safe="")


class RequestsApi(Api):
    """The promotion API's machinery (login, step-up, refresh), for these routes."""

    def ask(self, env_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/v1/environments/{_q(env_id)}/accessrequests"
        # A cap's 429 (pending requests, creations per hour) is said at once, not waited on.
        return self._object("POST", path, body, step_up=True, kind="create", retry=False)

    def get(self, name: str) -> dict[str, Any]:
        return self._object("GET", f"{ROOT}/{_q(name)}", None, kind="read")

    def watch(self, name: str, resource_version: str) -> dict[str, Any]:
        """The long poll: the request once it differs from `resource_version` (or as it is
        when the backend's wait ends)."""
        path = f"{ROOT}/{_q(name)}?watch=true&resourceVersion={_q(resource_version)}"
        return self._object("GET", path, None, kind="read", read_timeout=WATCH_READ_TIMEOUT)

    def list(self) -> dict[str, Any]:
        body = self._call("GET", ROOT, None, kind="read", check=False)
        if not isinstance(body.get("items"), list):
            raise BackendError(ANSWER)
        return body

    def decide(self, name: str, action: str, justification: str) -> dict[str, Any]:
        """approvals, denials, revoke: each with the decider's own step-up."""
        path = f"{ROOT}/{_q(name)}/{action}"
        return self._object("POST", path, {"justification": justification}, step_up=True)

    def cancel(self, name: str, justification: str) -> dict[str, Any]:
        body = {"justification": justification} if justification else {}
        return self._object("POST", f"{ROOT}/{_q(name)}/cancel", body, step_up=True)

    def _object(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        step_up: bool = False,
        kind: str = "",
        read_timeout: float = 60.0,
        retry: bool = True,
    ) -> dict[str, Any]:
        answer = self._call(
            method,
            path,
            body,
            step_up=step_up,
            kind=kind,
            check=False,
            read_timeout=read_timeout,
            retry=retry,
        )
        if not isinstance(answer.get("spec"), dict) or not _named(answer):
            raise BackendError(ANSWER)
        return answer

    def _answer(self, response: requests.Response, kind: str) -> dict[str, Any]:
        if response.status_code == 404 and kind != "read":
            from kubectl_scipian.backend.client import error_of

            reason, message = error_of(response, 500)
            if message.startswith(NOT_FOUND_PREFIX):
                raise ServerRefused(reason or "NotFound", message)
            if kind == "create" and message.startswith("no environment "):
                raise EnvNotFound(f"HTTP 404: {message}")
        return super()._answer(response, kind)


def _named(obj: dict[str, Any]) -> bool:
    from kubectl_scipian.accessrequests.flags import REQUEST_NAME

    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return isinstance(name, str) and len(name) <= 63 and REQUEST_NAME.fullmatch(name) is not None

"""Client of the Scipian backend's HTTP API (docs/api.md), mapping answers to exceptions.

401 with RFC 9470's challenge -> StepUpRequired, 401/403 -> AuthError,
404 -> EnvNotFound, 429 -> wait Retry-After and retry,
connection failure -> BackendUnreachable naming the URL, anything else -> BackendError.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import requests

from kubectl_scipian import __version__
from kubectl_scipian.backend import issued as issued_policy
from kubectl_scipian.errors import (
    AuthError,
    BackendError,
    BackendUnreachable,
    EnvNotFound,
    PromotionRequired,
    StepUpRequired,
)
from kubectl_scipian.support.timefmt import parse_timestamp

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 60.0)
MAX_RETRIES = 3
MAX_RETRY_AFTER = 30.0


class Discovery(NamedTuple):
    issuer: str
    client_id: str
    scopes: list[str]


class Environment(NamedTuple):
    id: str
    description: str
    ttl_seconds: int | None


class IssuedKubeconfig(NamedTuple):
    environment: str
    user: str
    expires_at: float  # epoch seconds
    kubeconfig: str  # JSON text (YAML is refused: backend/issued.py); holds a bearer token


def new_session(verify: bool | str) -> requests.Session:
    session = requests.Session()
    session.verify = verify
    session.headers["User-Agent"] = f"kubectl-scipian/{__version__}"
    return session


class BackendClient:
    def __init__(
        self,
        url: str,
        session: requests.Session,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.session = session
        self.sleep = sleep

    def discovery(self) -> Discovery:
        body = self._call("GET", "/.well-known/scipian-configuration")
        issuer, client_id = body.get("issuer"), body.get("clientID")
        scopes = body.get("scopes") or ["openid", "email", "groups", "offline_access"]
        if not isinstance(issuer, str) or not isinstance(client_id, str):
            raise BackendError(f"the Scipian backend at {self.url} sent no issuer or clientID")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise BackendError(f"the Scipian backend at {self.url} sent malformed scopes")
        why = issuer_problem(issuer)
        if why is not None:
            raise BackendError(f"the Scipian backend at {self.url} names an issuer {why}")
        return Discovery(issuer, client_id, scopes)

    def environments(self, id_token: str) -> list[Environment]:
        body = self._call("GET", "/api/v1/environments", id_token=id_token)
        items = body.get("items")
        if not isinstance(items, list):
            raise BackendError(f"the Scipian backend at {self.url} sent no environment list")
        from kubectl_scipian.support import names

        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                names.check_env(item["id"])  # it names cache files and URL paths
                ttl = item.get("ttlSeconds")
                out.append(
                    Environment(
                        item["id"],
                        str(item.get("description") or ""),
                        ttl if isinstance(ttl, int) else None,
                    )
                )
        return out

    def kubeconfig(
        self, env_id: str, id_token: str, level: str = "read", justification: str | None = None
    ) -> IssuedKubeconfig:
        """A kubeconfig of `level`; a deploy one needs the `justification` (--reason).
        The backend's step-up challenge raises StepUpRequired with its max_age."""
        request: dict[str, Any] = {}
        if level != "read":
            request = {"level": level, "justification": justification}
        try:
            body = self._call(
                "POST", f"/api/v1/environments/{env_id}/kubeconfig", id_token=id_token, json=request
            )
        except AuthError as err:
            if err.requestable:  # the backend says the caller may ask for this access
                from kubectl_scipian.errors import REQUEST_HINT

                err.hint = REQUEST_HINT.format(env=env_id, level=err.requestable)
            raise
        try:
            issued = IssuedKubeconfig(
                environment=str(body["environment"]),
                user=str(body.get("user", "")),
                expires_at=parse_timestamp(body["expirationTimestamp"]),
                kubeconfig=_text(body["kubeconfig"]),
            )
        except (KeyError, ValueError, OverflowError):
            raise BackendError(
                f"the Scipian backend at {self.url} sent a malformed kubeconfig answer"
            ) from None
        # Policy (kubectl_scipian/backend/issued.py): bearer token over https only, nothing to run.
        why = issued_policy.problem(env_id, issued.environment, issued.kubeconfig)
        if why:
            raise BackendError(
                f"the Scipian backend at {self.url} sent a kubeconfig the plugin refuses: {why}"
            )
        return issued._replace(kubeconfig=issued_policy.as_json(issued.kubeconfig))

    def releases(
        self, env_id: str, id_token: str, path: str = "", query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """GET /api/v1/environments/ENV/releases[PATH]: Helm release reads (docs/api.md)."""
        from urllib.parse import quote, urlencode

        url = f"/api/v1/environments/{quote(env_id, safe='')}/releases{path}"
        if query:
            url += "?" + urlencode(query)
        return self._call("GET", url, id_token=id_token)

    def rollback_report(
        self, env_id: str, id_token: str, namespace: str, name: str, report: dict[str, Any]
    ) -> dict[str, Any]:
        """POST .../releases/NS/NAME/rollbacks: a rollback's audit record (docs/api.md)."""
        from urllib.parse import quote

        url = (
            f"/api/v1/environments/{quote(env_id, safe='')}/releases/"
            f"{quote(namespace, safe='')}/{quote(name, safe='')}/rollbacks"
        )
        return self._call("POST", url, id_token=id_token, json=report)

    def _call(
        self,
        method: str,
        path: str,
        *,
        id_token: str | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._answer(self.send(method, path, id_token=id_token, json=json))

    def send(
        self,
        method: str,
        path: str,
        *,
        id_token: str | None = None,
        json: dict[str, Any] | None = None,
        data: bytes | None = None,
        content_type: str = "",
        read_timeout: float = TIMEOUT[1],
        retry: bool = True,
    ) -> requests.Response:
        """One API call (429 waited out and retried), the answer as it came: for routes
        whose errors a caller maps itself (kubectl_scipian/promotions/api.py). `data` is a
        raw body (a chart archive); `read_timeout` is longer for a long poll; `retry=False`
        answers a 429 at once (a cap that waiting a few seconds does not lift)."""
        headers = {"X-Request-Id": str(uuid.uuid4())}
        if id_token is not None:
            headers["Authorization"] = f"Bearer {id_token}"
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(MAX_RETRIES + 1):
            response = self._send(method, path, headers, json, data, read_timeout)
            if response.status_code != 429 or attempt == MAX_RETRIES or not retry:
                break
            delay = _retry_after(response)
            log.debug("rate limited by the backend; retrying in %.1fs", delay)
            self.sleep(delay)
        return response

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        json: dict[str, Any] | None,
        data: bytes | None = None,
        read_timeout: float = TIMEOUT[1],
    ) -> requests.Response:
        url = self.url + path
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                json=json,
                data=data,
                timeout=(TIMEOUT[0], read_timeout),
            )
        except requests.exceptions.SSLError:
            raise BackendUnreachable(
                f"cannot reach the Scipian backend at {self.url}: TLS verification failed "
                "(pass --certificate-authority if it uses a private CA)"
            ) from None
        except requests.RequestException as err:
            raise BackendUnreachable(
                f"cannot reach the Scipian backend at {self.url} ({_why(err)})"
            ) from None
        log.debug(
            "%s %s -> %s in %.0f ms (request id %s)",
            method,
            url,
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("X-Request-Id", headers["X-Request-Id"]),
        )
        return response

    def _answer(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except (ValueError, RecursionError):  # a hostile, deeply nested answer
            body = None
        status = response.status_code
        if status == 200 and isinstance(body, dict):
            return body
        reason, message = _reason(body)
        detail = f"HTTP {status} {reason}: {message}".strip(": ")
        if status == 401:
            max_age = step_up_max_age(response.headers.get("WWW-Authenticate", ""))
            if max_age is not None:
                raise StepUpRequired(max_age, detail)
        if status == 403:
            refused = (
                PromotionRequired(detail) if reason == "PromotionRequired" else AuthError(detail)
            )
            requestable = body.get("requestable") if isinstance(body, dict) else None
            if requestable in ("read", "deploy"):  # a fixed word: printed in the hint
                refused.requestable = str(requestable)
            raise refused
        if status == 401:
            raise AuthError(detail)
        if status == 404 and reason == "NotFound":
            raise EnvNotFound(detail)
        if status == 400:
            raise BackendError(f"the Scipian backend rejected the request: {message or reason}")
        raise BackendError(f"the Scipian backend at {self.url} failed: {detail}")


def issuer_problem(issuer: str) -> str | None:
    """Why the plugin refuses an issuer the backend names (pure), or None: https, or
    http:// only to loopback (127.0.0.0/8, ::1, localhost). A plain-http provider
    elsewhere would carry the login's codes and tokens in clear."""
    from urllib.parse import urlsplit

    from kubectl_scipian.config import _is_loopback
    from kubectl_scipian.support.untrusted import visible

    shown = visible(issuer[:100])
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError:
        return f"that is not an http(s) URL: {shown}"
    if parts.scheme not in ("https", "http") or not host:
        return f"that is not an http(s) URL: {shown}"
    if parts.scheme == "http" and not _is_loopback(host):
        return (
            f"over plain http:// off loopback ({shown}); the plugin logs in only over "
            "https:// (http:// is allowed only to loopback)"
        )
    return None


STEP_UP = re.compile(r'error="insufficient_user_authentication"')
MAX_AGE = re.compile(r"(?:^|[\s,])max_age=\"?(\d{1,6})\"?(?:$|[\s,])")


def step_up_max_age(challenge: str) -> int | None:
    """max_age of an RFC 9470 challenge (`Bearer error="insufficient_user_authentication",
    ..., max_age=N`), or None when the header is not one."""
    if not STEP_UP.search(challenge):
        return None
    found = MAX_AGE.search(challenge)
    return int(found.group(1)) if found else None


def error_of(response: requests.Response, limit: int = 200) -> tuple[str, str]:
    """(reason, message) of an error answer, truncated, never more of its body."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: a hostile, deeply nested answer
        body = None
    return _reason(body, limit)


def _reason(body: object, limit: int = 200) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    # Truncated: an upstream message is never worth a screenful (nor a leaked secret);
    # escaped: it is printed, and it may quote what someone else typed.
    from kubectl_scipian.support.untrusted import visible

    return visible(str(body.get("reason", ""))[:80]), visible(str(body.get("message", ""))[:limit])


def _retry_after(response: requests.Response) -> float:
    try:
        delay = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        delay = 1.0
    return min(max(delay, 0.0), MAX_RETRY_AFTER)


def _why(err: requests.RequestException) -> str:
    if isinstance(err, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(err, requests.exceptions.ConnectionError):
        return "connection refused or host unknown"
    return type(err).__name__


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("no kubeconfig")
    return value

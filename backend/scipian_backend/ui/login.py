"""The dashboard's OIDC login: authorization code + PKCE (S256) through the backend, as a
confidential client of its own (`--ui-client-id`), its redirect URI under the backend's own
URL (`<public-url>/ui/callback`).

The id_token is verified like the API's (issuer, JWKS, alg, exp, iat), with the dashboard's
client id as audience and the request's nonce; its claims become a session (ui/session.py)
and the tokens themselves are dropped. Nothing here logs a code, token or secret.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import threading
from typing import Any
from urllib.parse import urlencode

import requests

from scipian_backend.config import Settings
from scipian_backend.errors import ServiceUnavailable, Unauthorized
from scipian_backend.identity.authn import Identity, KeySet, Verifier
from scipian_backend.ui.session import PendingLogin

CALLBACK_PATH = "/ui/callback"
SCOPES = "openid email groups"


def challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DashboardLogin:
    def __init__(self, settings: Settings, keys: KeySet) -> None:
        if not settings.ui_client_id or not settings.public_url:
            raise ValueError("the dashboard needs a client id and the backend's public URL")
        self.client_id = settings.ui_client_id
        self._secret = settings.ui_client_secret
        self.redirect_uri = settings.public_url.rstrip("/") + CALLBACK_PATH
        self._issuer = settings.issuer
        self._timeout = settings.http_timeout_seconds
        # The API's verifier with the dashboard's audience: same issuer, keys and checks.
        self._verifier = Verifier(dataclasses.replace(settings, client_id=self.client_id), keys)
        self._http = requests.Session()
        self._http.trust_env = False  # the provider directly, as the API's key set reaches it
        self._lock = threading.Lock()
        self._endpoints: dict[str, str] | None = None

    def authorization_url(self, state: str, pending: PendingLogin) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPES,
            "state": state,
            "nonce": pending.nonce,
            "code_challenge": challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        if pending.max_age is not None:
            # Step-up: the provider asks for the password again unless its session is younger.
            params["max_age"] = str(pending.max_age)
        return self._endpoint("authorization_endpoint") + "?" + urlencode(params)

    def redeem(self, code: str, pending: PendingLogin) -> tuple[Identity, int]:
        """(Identity, the id_token's exp) for an authorization code of `pending`'s request."""
        try:
            resp = self._http.post(
                self._endpoint("token_endpoint"),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": pending.verifier,
                },
                auth=(self.client_id, self._secret),
                timeout=self._timeout,
            )
        except requests.RequestException:
            raise ServiceUnavailable("OIDC provider unreachable") from None
        if resp.status_code != 200:
            # The provider's error code only: its description may quote the request.
            error = _json(resp).get("error", f"HTTP {resp.status_code}")
            raise Unauthorized(f"the provider refused the login ({str(error)[:64]})")
        token = _json(resp).get("id_token")
        if not isinstance(token, str):
            raise Unauthorized("the provider sent no id_token")
        who, claims = self._verifier.verify_claims(token)
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce, pending.nonce):
            raise Unauthorized("id_token nonce mismatch")
        return who, int(claims["exp"])

    def _endpoint(self, name: str) -> str:
        with self._lock:
            if self._endpoints is None:
                self._endpoints = self._discover()
            return self._endpoints[name]

    def _discover(self) -> dict[str, str]:
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            resp = self._http.get(url, timeout=self._timeout)
            resp.raise_for_status()
            doc = resp.json()
        except (requests.RequestException, ValueError):
            raise ServiceUnavailable("OIDC provider unreachable") from None
        names = ("authorization_endpoint", "token_endpoint")
        if not isinstance(doc, dict) or doc.get("issuer") != self._issuer:
            raise ServiceUnavailable("OIDC discovery names another issuer")
        if not all(isinstance(doc.get(n), str) for n in names):
            raise ServiceUnavailable("OIDC discovery without authorization or token endpoint")
        return {n: str(doc[n]) for n in names}


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        doc = resp.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}

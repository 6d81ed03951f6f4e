"""The provider's HTTP endpoints: discovery, token (code, device, refresh), device auth."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import requests

from kubectl_scipian.errors import IdpError, LoginError
from kubectl_scipian.oidc import idtoken

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = (5.0, 30.0)


class OAuthError(IdpError):
    """The token endpoint answered with an OAuth error code (never with a token in it)."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        detail = f": {description}" if description else ""
        super().__init__(f"the OIDC provider refused the request: {error}{detail}")
        self.status = status
        self.error = error


class Metadata(NamedTuple):
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    device_authorization_endpoint: str | None
    revocation_endpoint: str | None


class Tokens(NamedTuple):
    """A token response; `claims` are the id_token's, read once."""

    id_token: str
    refresh_token: str | None
    claims: dict[str, Any]

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])


class OidcClient:
    def __init__(
        self, issuer: str, client_id: str, scopes: list[str], session: requests.Session
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.scopes = scopes
        self.session = session
        self._metadata: Metadata | None = None

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    def metadata(self) -> Metadata:
        if self._metadata is None:
            self._metadata = self._discover()
        return self._metadata

    def _discover(self) -> Metadata:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        body = self._json("GET", url)
        if body.get("issuer") != self.issuer:
            # OIDC Discovery 4.3: a mismatch means a misconfigured or impersonated provider.
            raise IdpError(f"the OIDC provider at {self.issuer} reports a different issuer")
        try:
            return Metadata(
                issuer=body["issuer"],
                authorization_endpoint=body["authorization_endpoint"],
                token_endpoint=body["token_endpoint"],
                device_authorization_endpoint=body.get("device_authorization_endpoint"),
                revocation_endpoint=body.get("revocation_endpoint"),
            )
        except KeyError as err:
            raise IdpError(f"the OIDC provider's discovery document lacks {err}") from None

    def _json(self, method: str, url: str, data: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self.session.request(method, url, data=data, timeout=TIMEOUT)
        except requests.RequestException as err:
            raise IdpError(
                f"cannot reach the OIDC provider at {self.issuer}: {type(err).__name__}"
            ) from None
        log.debug("%s %s -> %s", method, url, response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise IdpError(f"the OIDC provider answered {url} with HTTP {response.status_code}")
        if response.status_code >= 400 or "error" in body:
            raise OAuthError(
                response.status_code,
                str(body.get("error", f"HTTP {response.status_code}")),
                str(body.get("error_description", "")),
            )
        return body

    def token(self, data: dict[str, str], *, nonce: str | None = None) -> Tokens:
        body = self._json("POST", self.metadata().token_endpoint, data)
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise LoginError("the provider returned no id_token (is the 'openid' scope allowed?)")
        claims = idtoken.claims(id_token)
        idtoken.check(claims, issuer=self.issuer, client_id=self.client_id, nonce=nonce)
        refresh = body.get("refresh_token")
        return Tokens(id_token, refresh if isinstance(refresh, str) else None, claims)

    def exchange_code(self, code: str, redirect_uri: str, verifier: str, nonce: str) -> Tokens:
        return self.token(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            nonce=nonce,
        )

    def refresh(self, refresh_token: str) -> Tokens:
        return self.token(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": refresh_token,
            }
        )

    def start_device(self, extra: dict[str, str] | None = None) -> dict[str, Any]:
        """`extra`: more authorization parameters, e.g. a step-up's `max_age`."""
        endpoint = self.metadata().device_authorization_endpoint
        if not endpoint:
            raise LoginError("the OIDC provider does not offer the device authorization grant")
        data = {"client_id": self.client_id, "scope": self.scope, **(extra or {})}
        body = self._json("POST", endpoint, data)
        for key in ("device_code", "user_code", "verification_uri"):
            if not isinstance(body.get(key), str):
                raise IdpError(f"the provider's device authorization response lacks {key}")
        return body

    def poll_device(self, device_code: str) -> Tokens:
        return self.token(
            {"grant_type": DEVICE_GRANT, "client_id": self.client_id, "device_code": device_code}
        )

    def revoke(self, refresh_token: str) -> None:
        """Best effort (RFC 7009): logout must work even when the provider is away."""
        endpoint = self.metadata().revocation_endpoint
        if not endpoint:
            return
        data = {
            "client_id": self.client_id,
            "token": refresh_token,
            "token_type_hint": "refresh_token",
        }
        try:
            response = self.session.post(endpoint, data=data, timeout=TIMEOUT)
            log.debug("POST %s -> %s", endpoint, response.status_code)
        except requests.RequestException as err:
            log.debug("revocation failed: %s", type(err).__name__)

"""Reading an id_token's claims.

The signature is not checked here: the token came straight from the provider's token
endpoint over a connection the client chose (OIDC Core 3.1.3.7), and the backend verifies it
on every call. The plugin reads claims only for the cache key, expiry and `whoami`, and checks
`iss`, `aud` and `nonce` to bind the answer to its own request.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubectl_scipian.errors import LoginError


def claims(id_token: str) -> dict[str, Any]:
    try:
        payload = id_token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as err:
        raise LoginError("the provider returned an id_token that is not a JWT") from err
    if not isinstance(decoded, dict):
        raise LoginError("the provider returned an id_token that is not a JWT")
    return decoded


def check(
    token_claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str | None = None
) -> None:
    """Binds the id_token to this client and this request; raises LoginError otherwise."""
    if token_claims.get("iss") != issuer:
        raise LoginError("the id_token was issued by another issuer")
    aud = token_claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise LoginError("the id_token is meant for another client")
    if not isinstance(token_claims.get("sub"), str) or not isinstance(token_claims.get("exp"), int):
        raise LoginError("the id_token lacks sub or exp")
    if nonce is not None and token_claims.get("nonce") != nonce:
        raise LoginError("the id_token's nonce does not match this login (possible replay)")


def fresh_login_problem(token_claims: dict[str, Any], max_age: int, now: float, skew: float) -> str:
    """Why these claims do not prove a login within `max_age` seconds ("" when they do).

    A step-up asked the provider for `max_age`; the answer is checked here too, because a
    provider (or anything between) may ignore the parameter (RFC 9470 section 4).
    """
    auth_time = token_claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, (int, float)):
        return "the provider's id_token does not say when you logged in (no auth_time)"
    if now - auth_time > max_age + skew:
        return f"the provider did not ask you to log in again (login {now - auth_time:.0f}s old)"
    if auth_time > now + skew:
        return "the provider's id_token has a login time in the future"
    return ""

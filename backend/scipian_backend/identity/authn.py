"""Verifies OIDC id_tokens against the issuer's JWKS and turns them into an Identity.

Keys are cached by `kid`. A token with an unknown `kid` refetches the JWKS (a key the
provider just rotated in works on its first use), at most once per
`jwks_min_refetch_seconds` (a request inside that interval waits for its end);
concurrent unknown-kid tokens share one fetch, so forged kids cannot hammer the IdP.
The set is also refreshed every `jwks_lifespan_seconds`, which drops retired keys.

A token that verified is remembered (by its SHA-256) for VERIFIED_SECONDS or until it
expires, whichever is first: `@all get` sends one id_token to the backend once per
environment, and a signature check and claim decoding cost more than the rest of the
backend's own work on an issuance (bench/). The time-dependent checks run on every use.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from scipian_backend.config import Settings
from scipian_backend.errors import ServiceUnavailable, Unauthorized

REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
# How long a verified token is trusted without its signature being checked again: a key
# dropped from the JWKS stops working at most this much later.
VERIFIED_SECONDS = 10.0
VERIFIED_MAX = 4096  # remembered tokens; past it the oldest half is dropped


@dataclass(frozen=True)
class Identity:
    username: str  # prefixed, as RBAC sees it, e.g. oidc:alice@example.test
    groups: tuple[str, ...]  # prefixed
    subject: str  # the token's sub, for audit
    auth_time: int | None = None  # when the person logged in at the provider (step-up)


class KeySet:
    """The issuer's signing keys, refreshed on a schedule and on unknown `kid`."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._session = session or _plain_session()
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._jwks_uri: str | None = None

    def key(self, kid: str) -> jwt.PyJWK:
        started = self._clock()
        key = self._keys.get(kid)
        if key is not None and not self._stale(started):
            return key
        with self._lock:
            # Another request may have refreshed while this one waited: its answer stands.
            if self._fetched_at is None or self._fetched_at < started:
                self._refresh_for(kid)
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("id_token signed by an unknown key")
        return key

    def _refresh_for(self, kid: str) -> None:
        now = self._clock()
        if kid in self._keys:
            if self._stale(now):
                # Keep verifying with the known key while the IdP is down.
                with contextlib.suppress(ServiceUnavailable):
                    self._fetch()
        else:
            # Rate limit: wait out the rest of the interval (holding the lock, so requests
            # queued behind share this fetch), then fetch; a key rotated in moments ago
            # is found on first use, and forged kids cost the IdP one fetch per interval.
            if self._fetched_at is not None:
                wait = self._settings.jwks_min_refetch_seconds - (now - self._fetched_at)
                if wait > 0:
                    self._sleep(wait)
            self._fetch()

    def ready(self) -> bool:
        """True when the JWKS has been (or now can be) fetched."""
        if self._fetched_at is not None:
            return True
        try:
            with self._lock:
                self._fetch()
        except ServiceUnavailable:
            return False
        return True

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= (
            self._settings.jwks_lifespan_seconds
        )

    def _fetch(self) -> None:
        timeout = self._settings.http_timeout_seconds
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover(timeout)
            resp = self._session.get(self._jwks_uri, timeout=timeout)
            resp.raise_for_status()
            doc = resp.json()
            keys: dict[str, jwt.PyJWK] = {}
            for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
                parsed = _usable_key(jwk, self._settings.algorithms)
                if parsed is not None:
                    keys[jwk["kid"]] = parsed
        except (requests.RequestException, ValueError) as e:
            # Failed fetches count for the rate limit too: an IdP outage is not hammered.
            self._fetched_at = self._clock()
            raise ServiceUnavailable(f"OIDC provider unreachable ({type(e).__name__})") from None
        self._keys = keys
        self._fetched_at = self._clock()

    def _discover(self, timeout: float) -> str:
        url = self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        resp = self._session.get(url, timeout=timeout)
        resp.raise_for_status()
        doc = resp.json()
        # The discovery document must name exactly the issuer we trust (OIDC Discovery 4.3).
        if not isinstance(doc, dict) or doc.get("issuer") != self._settings.issuer:
            raise ValueError("discovery issuer mismatch")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str):
            raise ValueError("discovery without jwks_uri")
        return uri


def _usable_key(jwk: Any, allowed: tuple[str, ...]) -> jwt.PyJWK | None:
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    try:
        key = jwt.PyJWK(jwk)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        return None
    return key if key.algorithm_name in allowed else None


def _plain_session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # the IdP is reached directly, never through a proxy from the env
    return s


class Verifier:
    def __init__(self, settings: Settings, keys: KeySet, now: Callable[[], float] = time.time):
        self._s = settings
        self._keys = keys
        self._now = now
        self._verified: dict[bytes, tuple[float, dict[str, Any]]] = {}
        self._verified_lock = threading.Lock()

    def verify(self, token: str) -> Identity:
        return self.verify_claims(token)[0]

    def verify_claims(self, token: str) -> tuple[Identity, dict[str, Any]]:
        """The Identity and the verified claims (the dashboard's login needs exp and nonce)."""
        digest = hashlib.sha256(token.encode()).digest()
        now = self._now()
        known = self._verified.get(digest)
        if known is not None and now < known[0]:
            return self._identity(known[1]), known[1]
        identity, claims = self._verify(token)
        self._remember(digest, claims, now)
        return identity, claims

    def _remember(self, digest: bytes, claims: dict[str, Any], now: float) -> None:
        exp = claims["exp"]
        # PyJWT accepts exp up to `leeway` past; a remembered token no longer than that.
        until = min(float(exp) + self._s.leeway_seconds, now + VERIFIED_SECONDS)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_MAX:
                kept = [(k, v) for k, v in self._verified.items() if v[0] > now]
                self._verified = dict(kept[len(kept) // 2 :])
            self._verified[digest] = (until, claims)

    def _verify(self, token: str) -> tuple[Identity, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed id_token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._s.algorithms:
            raise Unauthorized("id_token algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("id_token without key id")
        key = self._keys.key(kid)
        if key.algorithm_name != alg:
            raise Unauthorized("id_token algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._s.client_id,
                issuer=self._s.issuer,
                leeway=self._s.leeway_seconds,
                options={"require": REQUIRED_CLAIMS, "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("id_token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("id_token not yet valid") from None
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid id_token ({type(e).__name__})") from None
        return self._identity(claims), claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        now = self._now()
        iat = claims["iat"]
        if not isinstance(iat, (int, float)) or iat > now + self._s.leeway_seconds:
            raise Unauthorized("id_token issued in the future")
        if now - iat > self._s.max_token_age_seconds:
            raise Unauthorized("id_token too old")
        aud = claims["aud"]
        # With several audiences the authorized party must be us (OIDC Core 3.1.3.7).
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self._s.client_id:
            raise Unauthorized("id_token authorized party mismatch")
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("id_token without subject")
        name = claims.get(self._s.username_claim)
        if not isinstance(name, str) or not name:
            raise Unauthorized(f"id_token without {self._s.username_claim} claim")
        if self._s.username_claim == "email" and claims.get("email_verified") is False:
            raise Unauthorized("id_token email not verified")
        groups = claims.get(self._s.groups_claim, [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise Unauthorized(f"id_token {self._s.groups_claim} claim is not a list of strings")
        return Identity(
            username=self._s.username_prefix + name,
            groups=tuple(self._s.groups_prefix + g for g in groups),
            subject=sub,
            auth_time=auth_time_of(claims),
        )


def auth_time_of(claims: dict[str, Any]) -> int | None:
    """The `auth_time` claim when it is a number (seconds since the epoch), else None: a
    token without a usable one never passes step-up (step_up_problem)."""
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def step_up_problem(auth_time: int | None, max_age: int, now: float, leeway: int) -> str | None:
    """Why a login is not fresh enough for a deploy credential (RFC 9470), or None.

    No `auth_time` (a provider not asked for it, a hand-made token) never passes; a login
    time in the future beyond the clock leeway is as suspect as an old one.
    """
    if auth_time is None:
        return "the id_token does not say when you logged in (no auth_time)"
    if auth_time > now + leeway:
        return "the id_token's auth_time is in the future"
    if now - auth_time > max_age:
        return f"a login no older than {max_age} seconds is required"
    return None


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 16384:
        raise Unauthorized("Authorization header must be 'Bearer <id_token>'")
    return token.strip()

"""Verifies OIDC id_tokens against the issuer's JWKS and turns them into an Identity.

Keys are cached by `kid`. No request ever waits on a lock for the JWKS: fetches run in a
background thread, one at a time (single flight), and the state they replace is read
without waiting.
- A known `kid` verifies at once. A set older than `jwks_lifespan_seconds` (which drops
  retired keys) is refreshed in the background meanwhile.
- An unknown `kid` starts a fetch and waits for that fetch alone (at most the HTTP
  timeout), so a key the provider just rotated in works on its first use. While a fetch
  runs, and for `jwks_min_refetch_seconds` after one an unknown `kid` caused, every other
  unknown `kid` is refused at once: forged kids neither hammer the IdP nor hold threads.

A token that verified is remembered (by its SHA-256) for VERIFIED_SECONDS or until it
expires, whichever is first: `@all get` sends one id_token to the backend once per
environment, and a signature check and claim decoding cost more than the rest of the
backend's own work on an issuance (bench/). The time-dependent checks run on every use.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
import requests

from scipian_backend.config import Settings
from scipian_backend.errors import ServiceUnavailable, Unauthorized

REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
# How long a verified token is trusted without its signature being checked again: a key
# dropped from the JWKS stops working at most this much later.
VERIFIED_SECONDS = 10.0
VERIFIED_MAX = 4096  # remembered tokens; past it the oldest half is dropped
# The `typ` header values an id_token may carry (RFC 7519 5.1: media types compare without
# case, "application/" may be left out); absent is fine too. Anything else (`at+jwt`, a
# logout token, ...) is some other kind of JWT from the same issuer.
ID_TOKEN_TYPES = ("jwt", "application/jwt")


@dataclass(frozen=True)
class Identity:
    username: str  # prefixed, as RBAC sees it, e.g. oidc:alice@example.test
    groups: tuple[str, ...]  # prefixed
    subject: str  # the token's sub, for audit
    auth_time: int | None = None  # when the person logged in at the provider (step-up)


def _in_thread(fetch: Callable[[], None]) -> None:
    threading.Thread(target=fetch, name="scipian-jwks", daemon=True).start()


class KeySet:
    """The issuer's signing keys, refreshed on a schedule and on unknown `kid`."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        start: Callable[[Callable[[], None]], None] = _in_thread,
    ) -> None:
        self._settings = settings
        self._session = session or _plain_session()
        self._clock = clock
        self._start = start  # runs a fetch away from the request (tests run it by hand)
        # Guards the fields below for a few statements at a time: never held across a
        # fetch or a wait.
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}  # replaced whole, so read without the lock
        self._loaded_at: float | None = None  # the last fetch that succeeded
        self._tried_at: float | None = None  # the last fetch's end, whatever its outcome
        self._probed_at: float | None = None  # the last end of a fetch an unknown kid caused
        self._error: str | None = None  # why the last fetch failed
        self._running: threading.Event | None = None  # set when the running fetch ends
        self._probe = False  # the running fetch was caused by an unknown kid
        self._jwks_uri: str | None = None

    def key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            if self._stale(self._clock()):
                self._begin(probe=False)  # in the background: this request does not wait
            return key
        done = self._begin(probe=True)
        if done is not None:
            # Only the request that started the fetch waits, and for nothing else.
            done.wait(self._settings.http_timeout_seconds)
            key = self._keys.get(kid)
            if key is not None:
                return key
        if self._loaded_at is None:
            # Nothing to check any signature against: the provider is the problem.
            raise ServiceUnavailable(f"OIDC provider unreachable ({self._error or 'no keys yet'})")
        raise Unauthorized("id_token signed by an unknown key")

    def _begin(self, probe: bool) -> threading.Event | None:
        """Starts a fetch, unless one is running or a recent one stands; returns the Event
        the started fetch sets when it ends, or None."""
        limit = self._settings.jwks_min_refetch_seconds
        with self._lock:
            now = self._clock()
            if self._running is not None:
                return None
            recent = self._probed_at if probe else self._tried_at
            if recent is not None and now - recent < limit:
                return None
            if not probe and not self._stale(now):
                return None
            done = self._running = threading.Event()
            self._probe = probe
        try:
            self._start(self._run)
        except RuntimeError:
            # No thread to run it (the process is out of them): no fetch after all, and
            # the request is answered as if one were running.
            with self._lock:
                self._running = None
            done.set()
            return None
        return done

    def _run(self) -> None:
        keys: dict[str, jwt.PyJWK] | None = None
        error = "fetch failed"
        try:
            keys = self._fetch()
        except (requests.RequestException, ValueError) as e:
            error = type(e).__name__
        finally:
            with self._lock:
                now = self._clock()
                self._tried_at = now
                if self._probe:
                    self._probed_at = now
                if keys is not None:
                    self._keys, self._loaded_at, self._error = keys, now, None
                else:
                    # Failed fetches count for the intervals too: an IdP outage is not
                    # hammered. The keys already known keep verifying meanwhile.
                    self._error = error
                done, self._running = self._running, None
            if done is not None:
                done.set()

    def ready(self) -> bool:
        """True once the JWKS has been fetched (a fetch is started, and waited for, if it
        has not been and the last attempt is not recent)."""
        if self._loaded_at is not None:
            return True
        done = self._begin(probe=False) or self._running
        if done is not None:
            done.wait(self._settings.http_timeout_seconds)
        return self._loaded_at is not None

    def _stale(self, now: float) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= (
            self._settings.jwks_lifespan_seconds
        )

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        """The provider's usable keys by kid (raises requests' errors and ValueError)."""
        timeout = self._settings.http_timeout_seconds
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
        return keys

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
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ID_TOKEN_TYPES):
            raise Unauthorized("not an id_token (typ header)")
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
        # With several audiences the authorized party must be us (OIDC Core 3.1.3.7); and
        # whenever one is named: a token issued to another client that merely lists us
        # (a cross-client or exchanged token, an access token with an audience mapper) is
        # that client's, not a login to this one.
        several = isinstance(aud, list) and len(aud) > 1
        if (several or "azp" in claims) and claims.get("azp") != self._s.client_id:
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


def lifetime_problem(claims: dict[str, Any], max_lifetime: int) -> str | None:
    """Why an id_token lives too long for a deploy-level or promotion operation, or None.

    A stolen id_token is good until its `exp`, whatever logout or revocation did (the
    backend keeps no sessions for it): `exp - iat` bounds that, for the operations that
    change targets. Both claims were checked as numbers by the verification.
    """
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp) or not _is_number(iat):
        # PyJWT takes any exp int() can read ("123" too); a lifetime needs numbers.
        return "the id_token's exp and iat must be numbers"
    lifetime = exp - iat
    if lifetime > max_lifetime:
        return (
            f"the id_token lives {int(lifetime)} s (exp - iat); deploy-level and promotion "
            f"operations accept at most {max_lifetime} s: ask your provider for shorter ones"
        )
    return None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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

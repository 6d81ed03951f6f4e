"""PKCE S256 (RFC 7636) and the random values of an authorization request."""

from __future__ import annotations

import base64
import hashlib
import secrets


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    # 64 random bytes -> 86 characters, inside RFC 7636's 43..128 from its unreserved set.
    return b64url(secrets.token_bytes(64))


def challenge(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    return secrets.token_urlsafe(32)

"""Sealed values: a JSON object encrypted and authenticated (AES-256-GCM) for a browser to
carry, e.g. a pending login in a cookie, so that any replica can read it back and none has
to remember it (docs/decisions/dashboard-state.md).

Format: ``v1.<key id>.<base64url(nonce 12 bytes || ciphertext || tag)>``. The associated data
binds the format version, the key id and the purpose (a value sealed as one thing is never
opened as another); the payload's ``exp`` (epoch seconds) is inside the ciphertext. Anything
wrong (unknown key id, tampered bytes, another purpose, past `exp`, not JSON) opens to None:
the caller answers one message, whatever the cause.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce, random per value
KEY_ID = re.compile(r"^[a-z0-9]{1,16}$")
MAX_SEALED = 4000  # characters: a browser keeps about 4 KB per cookie


@dataclass(frozen=True)
class Keyring:
    """The keys a value may have been sealed with, by id; `current` seals new values."""

    current: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError("the current key id names no key")
        for kid, key in self.keys.items():
            if not KEY_ID.fullmatch(kid) or len(key) != KEY_BYTES:
                raise ValueError(f"bad sealing key {kid!r}: ids [a-z0-9]{{1,16}}, 32-byte keys")

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(current={self.current!r}, ids={sorted(self.keys)!r})"


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def new_key_id() -> str:
    return os.urandom(5).hex()  # 10 hex digits: unique enough among a few live keys


def _aad(purpose: str, kid: str) -> bytes:
    return f"scipian-sealed:{VERSION}:{kid}:{purpose}".encode()


def seal(ring: Keyring, purpose: str, payload: Mapping[str, Any], exp: float) -> str:
    """`payload` plus its expiry (`exp`, epoch seconds), sealed with the current key."""
    kid = ring.current
    doc = {**payload, "exp": int(exp)}
    plain = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(bytes(ring.keys[kid])).encrypt(nonce, plain, _aad(purpose, kid))
    text = f"{VERSION}.{kid}." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
    if len(text) > MAX_SEALED:
        raise ValueError(f"a sealed value of {len(text)} characters is more than a cookie holds")
    return text


def key_id_of(text: str) -> str | None:
    """The key id a sealed value names (unauthenticated: only to look the key up)."""
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not KEY_ID.fullmatch(parts[1]):
        return None
    return parts[1]


def open_sealed(ring: Keyring, purpose: str, text: str, now: float) -> dict[str, Any] | None:
    """The payload (without `exp`) of a value `seal` made for `purpose` with one of `ring`'s
    keys and not yet expired; else None."""
    if not text or len(text) > MAX_SEALED:
        return None
    kid = key_id_of(text)
    key = ring.keys.get(kid) if kid else None
    if kid is None or key is None:
        return None
    body = text.split(".")[2]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < NONCE_BYTES + 16:
        return None
    try:
        plain = AESGCM(bytes(key)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(purpose, kid))
        payload = json.loads(plain)
    except (InvalidTag, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    exp = payload.pop("exp", None)
    if not isinstance(exp, int) or exp <= now:
        return None
    return payload

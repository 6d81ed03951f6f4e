"""PKCE S256 and id_token claim checks (pure functions)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from kubectl_scipian.errors import LoginError
from kubectl_scipian.oidc import idtoken, pkce


def test_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_shape_and_randomness() -> None:
    verifiers = {pkce.new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    for v in verifiers:
        assert 43 <= len(v) <= 128
        assert re.fullmatch(r"[A-Za-z0-9\-._~]+", v)
    assert pkce.new_state() != pkce.new_state()


def jwt(claims: dict[str, object]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


CLIENT = "kubectl-scipian"
GOOD = {"iss": "https://idp", "aud": "kubectl-scipian", "sub": "s1", "exp": 2, "nonce": "n"}


def test_claims_roundtrip_without_padding() -> None:
    assert idtoken.claims(jwt(GOOD)) == GOOD


@pytest.mark.parametrize("token", ["", "abc", "a.!!!.c", "a.bnVsbA.c"])
def test_not_a_jwt(token: str) -> None:
    with pytest.raises(LoginError, match="not a JWT"):
        idtoken.claims(token)


def test_check_accepts_matching_and_list_audience() -> None:
    idtoken.check(GOOD, issuer="https://idp", client_id="kubectl-scipian", nonce="n")
    idtoken.check(
        {**GOOD, "aud": ["other", "kubectl-scipian"]},
        issuer="https://idp",
        client_id="kubectl-scipian",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iss": "https://evil"}, "another issuer"),
        ({"aud": "other"}, "another client"),
        ({"nonce": "m"}, "nonce"),
        ({"sub": None}, "lacks sub"),
        ({"exp": "soon"}, "lacks sub or exp"),
    ],
)
def test_check_rejects(change: dict[str, object], message: str) -> None:
    with pytest.raises(LoginError, match=message):
        idtoken.check(
            {**GOOD, **change}, issuer="https://idp", client_id="kubectl-scipian", nonce="n"
        )

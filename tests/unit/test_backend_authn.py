"""id_token verification (scipian_backend.authn.Verifier) as a pure function of token + keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scipian_backend.config import Settings
from scipian_backend.errors import Unauthorized
from scipian_backend.identity.authn import KeySet, Verifier, bearer_token

ISSUER = "https://idp.example.test"
NOW = int(time.time())  # PyJWT reads the wall clock itself
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


class StaticKeys(KeySet):
    """The issuer's JWKS, given instead of fetched."""

    def __init__(self, settings: Settings, jwks: list[dict[str, Any]]) -> None:
        super().__init__(settings)
        self._static = {k["kid"]: jwt.PyJWK(k) for k in jwks}

    def key(self, kid: str) -> jwt.PyJWK:
        if kid not in self._static:
            raise Unauthorized("id_token signed by an unknown key")
        return self._static[kid]


def jwk_of(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    d: dict[str, Any] = json.loads(algo.to_jwk(key.public_key()))
    d.update(kid=kid, alg=alg, use="sig")
    return d


SETTINGS = Settings(issuer=ISSUER, client_id="kubectl-scipian")
VERIFIER = Verifier(
    SETTINGS,
    StaticKeys(SETTINGS, [jwk_of(RSA_KEY, "r1", "RS256"), jwk_of(EC_KEY, "e1", "ES256")]),
    now=time.time,
)


def claims(**change: Any) -> dict[str, Any]:
    now = int(time.time())  # at signing time: the suite may run long after import
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "kubectl-scipian",
        "sub": "u1",
        "email": "alice@example.test",
        "email_verified": True,
        "groups": ["team-a"],
        "iat": now - 10,
        "exp": now + 600,
    }
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


def sign(c: dict[str, Any], kid: str = "r1", alg: str = "RS256", key: Any = RSA_KEY) -> str:
    return jwt.encode(c, key, algorithm=alg, headers={"kid": kid})


def test_valid_rs256_and_es256_tokens() -> None:
    who = VERIFIER.verify(sign(claims()))
    assert who.username == "oidc:alice@example.test"
    assert who.groups == ("oidc:team-a",)
    assert who.subject == "u1"
    assert VERIFIER.verify(sign(claims(), "e1", "ES256", EC_KEY)).username.endswith(
        "alice@example.test"
    )


def test_aud_list_with_azp() -> None:
    VERIFIER.verify(sign(claims(aud=["kubectl-scipian", "x"], azp="kubectl-scipian")))
    with pytest.raises(Unauthorized):
        VERIFIER.verify(sign(claims(aud=["kubectl-scipian", "x"], azp="x")))


def test_leeway_is_small() -> None:
    now = int(time.time())  # not NOW: the suite may have run for longer than the leeway
    VERIFIER.verify(sign(claims(iat=now - 10, exp=now - 15)))  # inside the 30 s leeway
    VERIFIER.verify(sign(claims(iat=now + 15, exp=now + 600)))


@pytest.mark.parametrize(
    "bad",
    [
        {"iss": ISSUER + "/"},
        {"iss": "https://other.example"},
        {"aud": "other"},
        {"aud": None},
        {"exp": NOW - 60},
        {"exp": None},
        {"iat": NOW + 3600},
        {"iat": None},
        {"iat": NOW - 2 * 86400},
        {"sub": None},
        {"sub": ""},
        {"email": None},
        {"email": ""},
        {"email": ["a"]},
        {"email_verified": False},
        {"groups": "team-a"},
        {"groups": ["team-a", 1]},
        {"groups": {"a": 1}},
        {"nbf": NOW + 3600},
    ],
)
def test_bad_claims(bad: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        VERIFIER.verify(sign(claims(**bad)))


def b64(d: bytes) -> str:
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "a.b.c",
        b64(json.dumps({"alg": "none", "kid": "r1"}).encode())
        + "."
        + b64(json.dumps(claims()).encode())
        + ".",
        jwt.encode(
            claims(), "secret-secret-secret-secret-32b!", algorithm="HS256", headers={"kid": "r1"}
        ),
        sign(claims(), kid="unknown"),
        sign(claims(), kid="e1"),  # RS256 token naming the ES256 key
        jwt.encode(claims(), RSA_KEY, algorithm="RS256"),  # no kid
        jwt.encode(claims(), RSA_KEY, algorithm="PS256", headers={"kid": "r1"}),
    ],
)
def test_bad_tokens(token: str) -> None:
    with pytest.raises(Unauthorized):
        VERIFIER.verify(token)


def test_tampered_signature() -> None:
    h, _, s = sign(claims()).split(".")
    other = b64(json.dumps(claims(groups=["platform-admins"])).encode())
    with pytest.raises(Unauthorized):
        VERIFIER.verify(f"{h}.{other}.{s}")


def test_configurable_claims_and_prefixes() -> None:
    s = Settings(
        issuer=ISSUER,
        client_id="kubectl-scipian",
        username_claim="sub",
        groups_claim="roles",
        username_prefix="sso:",
        groups_prefix="",
    )
    v = Verifier(s, StaticKeys(s, [jwk_of(RSA_KEY, "r1", "RS256")]))
    who = v.verify(sign(claims(roles=["ops"])))
    assert who.username == "sso:u1"
    assert who.groups == ("ops",)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer  ", "Basic abc", "bearer" + " x" * 9000]
)
def test_bearer_header_rejected(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_header_accepted() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer abc") == "abc"


def test_settings_refuse_symmetric_or_none_algorithms() -> None:
    from scipian_backend.errors import ConfigError

    for algs in (("HS256",), ("none",), ("RS256", "HS512")):
        with pytest.raises(ConfigError):
            Settings(issuer=ISSUER, client_id="c", algorithms=algs)


class CountingKeys(StaticKeys):
    """StaticKeys that count the key look-ups: one per signature actually checked."""

    def __init__(self, settings: Settings, jwks: list[dict[str, Any]]) -> None:
        super().__init__(settings, jwks)
        self.lookups = 0

    def key(self, kid: str) -> jwt.PyJWK:
        self.lookups += 1
        return super().key(kid)


def remembering(leeway: int = 30) -> tuple[Verifier, CountingKeys, list[float]]:
    s = Settings(issuer=ISSUER, client_id="kubectl-scipian", leeway_seconds=leeway)
    keys = CountingKeys(s, [jwk_of(RSA_KEY, "r1", "RS256")])
    clock = [time.time()]
    return Verifier(s, keys, now=lambda: clock[0]), keys, clock


def test_a_verified_token_is_remembered_for_a_few_seconds() -> None:
    from scipian_backend.identity.authn import VERIFIED_SECONDS

    v, keys, clock = remembering()
    token = sign(claims())
    first = v.verify(token)
    assert v.verify(token) == first
    assert keys.lookups == 1  # the second use checked no signature
    clock[0] += VERIFIED_SECONDS + 1
    assert v.verify(token) == first
    assert keys.lookups == 2  # checked again once the time was up


def test_a_remembered_token_is_never_kept_past_its_expiry() -> None:
    v, keys, clock = remembering(leeway=0)
    token = sign(claims(exp=int(clock[0]) + 3))
    v.verify(token)
    clock[0] += 4  # past exp; PyJWT's own clock is still before it
    v.verify(token)
    assert keys.lookups == 2


def test_a_changed_signature_is_not_taken_for_a_remembered_token() -> None:
    v, _, _ = remembering()
    token = sign(claims())
    v.verify(token)
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload, ("A" if sig[0] != "A" else "B") + sig[1:]])
    with pytest.raises(Unauthorized):
        v.verify(forged)


def test_time_checks_still_run_on_a_remembered_token() -> None:
    v, _, clock = remembering()
    token = sign(claims(iat=int(clock[0]) - 86400 + 2))  # within max age, for 2 s more
    v.verify(token)
    clock[0] += 5
    with pytest.raises(Unauthorized, match="too old"):
        v.verify(token)


def test_azp_when_present_must_be_this_client() -> None:
    VERIFIER.verify(sign(claims(azp="kubectl-scipian")))
    with pytest.raises(Unauthorized, match="authorized party"):
        VERIFIER.verify(sign(claims(azp="other-client")))  # one audience: us, yet not ours
    with pytest.raises(Unauthorized, match="authorized party"):
        VERIFIER.verify(sign(claims(azp=None) | {"azp": None}))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", None])
def test_id_token_typ_accepted(typ: str | None) -> None:
    headers: dict[str, Any] = {"kid": "r1"} | ({"typ": typ} if typ else {})
    VERIFIER.verify(jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers=headers))


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "logout+jwt", "JOSE", 1])
def test_other_typ_refused(typ: object) -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "r1", "typ": typ})
    with pytest.raises(Unauthorized, match="typ"):
        VERIFIER.verify(token)


def test_lifetime_problem() -> None:
    from scipian_backend.identity.authn import lifetime_problem

    assert lifetime_problem({"iat": 100, "exp": 3700}, 3600) is None
    assert lifetime_problem({"iat": 100.5, "exp": 160}, 60) is None
    problem = lifetime_problem({"iat": 100, "exp": 3701}, 3600)
    assert problem is not None and "3601 s" in problem and "3600 s" in problem
    for odd in ({"iat": 100, "exp": "9999"}, {"iat": True, "exp": 200}, {"exp": 200}):
        assert lifetime_problem(odd, 3600) is not None


@pytest.mark.parametrize(
    "issuer",
    [
        "https://idp.example.test",
        "https://10.0.0.1:8443/realms/x",
        "http://127.0.0.1:5556",
        "http://127.9.8.7/dex",
        "http://[::1]:8080",
        "http://localhost:8080",
        "http://LOCALHOST",
    ],
)
def test_serve_accepts_https_or_loopback_issuers(issuer: str) -> None:
    from scipian_backend.config import check_serve_identity

    check_serve_identity(issuer, "oidc:", "oidc:")


@pytest.mark.parametrize(
    "issuer",
    [
        "http://idp.example.test",
        "http://10.0.0.1:5556",
        "http://128.0.0.1",
        "http://[::2]",
        "http://127.0.0.1@evil.example",  # userinfo: the host is evil.example
        "http://localhost.evil.example",
        "http://",
    ],
)
def test_serve_refuses_plain_http_issuers_off_loopback(issuer: str) -> None:
    from scipian_backend.config import check_serve_identity
    from scipian_backend.errors import ConfigError

    with pytest.raises(ConfigError, match="plain http"):
        check_serve_identity(issuer, "oidc:", "oidc:")


@pytest.mark.parametrize(
    ("user", "group"), [("", "oidc:"), ("oidc:", ""), ("system:", "oidc:"), ("oidc:", "System:x")]
)
def test_serve_refuses_empty_or_system_prefixes(user: str, group: str) -> None:
    from scipian_backend.config import check_serve_identity
    from scipian_backend.errors import ConfigError

    with pytest.raises(ConfigError, match="prefix"):
        check_serve_identity(ISSUER, user, group)

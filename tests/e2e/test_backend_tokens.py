"""Authentication over HTTP: every bad id_token is a 401, a rotated key works at once.

Forged tokens are built here with PyJWT/cryptography the way an attacker would (no access
to the provider's private key). Tokens with exactly one claim wrong are signed by a
test-held key (StaticIssuer) that a backend of the test's own trusts, so each check is
shown to be the reason for the 401 (the unmodified token gets 200). Rotation, expiry and
audience use real providers started with start_idp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import Stack
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.idp_process import IdpProcess, start_idp

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def issue(url: str, token: str, env_id: str = "dev") -> requests.Response:
    return http().post(
        f"{url}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_part(part: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return doc


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    h, p, _ = token.split(".")
    return _json_part(h), _json_part(p)


def login(issuer: str, user: str, password: str, client_id: str = CLIENT_ID) -> str:
    token: str = authcode_flow_tokens(issuer, client_id, user, password)["id_token"]
    return token


@pytest.fixture(scope="module")
def url(stack: Stack) -> str:
    return stack.env["SCIPIAN_BACKEND_URL"]


@pytest.fixture(scope="module")
def alice(stack: Stack) -> str:
    return login(stack.env["STACK_IDP_ISSUER"], "alice", stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forge(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


# --- against the stack's backend and provider ------------------------------------------------


def test_real_token_is_accepted(url: str, alice: str) -> None:
    assert issue(url, alice).status_code == 200


def test_alg_none(url: str, alice: str) -> None:
    header, claims = parts(alice)
    for alg in ("none", "None", "NONE"):
        h = {"alg": alg, "kid": header["kid"], "typ": "JWT"}
        token = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(claims).encode())}."
        r = issue(url, token)
        assert r.status_code == 401, alg
        assert r.json()["reason"] == "Unauthorized"


def test_hs256_signed_with_the_public_key(stack: Stack, url: str, alice: str) -> None:
    header, claims = parts(alice)
    jwks = http().get(stack.env["STACK_IDP_ISSUER"] + "/jwks").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    h = {"alg": "HS256", "kid": header["kid"], "typ": "JWT"}
    for key in (public, json.dumps(jwk).encode(), jwk["n"].encode()):
        signing_input = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(claims).encode())}"
        sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        assert issue(url, f"{signing_input}.{b64(sig)}").status_code == 401


def test_tampered_payload(url: str, alice: str) -> None:
    """Real header and signature; the payload claims another user and group."""
    _, claims = parts(alice)
    h, _, sig = alice.split(".")
    for change in (
        {"groups": ["platform-admins"]},
        {"email": "carol@example.test"},
        {"exp": claims["exp"] + 3600},
    ):
        payload = b64(json.dumps({**claims, **change}).encode())
        r = issue(url, f"{h}.{payload}.{sig}", "prod")
        assert r.status_code == 401, change


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"exp": 1},
        {"iat": 4102444800},
        {"sub": None},
        {"groups": "platform-admins"},
        {},
    ],
    ids=["wrong-iss", "wrong-aud", "expired", "iat-future", "missing-sub", "groups-str", "same"],
)
def test_resigned_with_attacker_key_and_real_kid(
    url: str, alice: str, attacker_key: rsa.RSAPrivateKey, change: dict[str, Any]
) -> None:
    header, claims = parts(alice)
    claims = {k: v for k, v in {**claims, **change}.items() if v is not None}
    assert issue(url, forge(claims, attacker_key, header["kid"])).status_code == 401


def test_unknown_kid(url: str, alice: str, attacker_key: rsa.RSAPrivateKey) -> None:
    _, claims = parts(alice)
    for _ in range(2):  # repeated unknown kids: still 401, never a 5xx
        r = issue(url, forge(claims, attacker_key, secrets.token_hex(8)))
        assert r.status_code == 401
        assert r.json()["reason"] == "Unauthorized"
    assert issue(url, alice).status_code == 200


@pytest.fixture(scope="module")
def second_idp(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[IdpProcess]:
    idp = start_idp(tmp_path_factory.mktemp("idp2"), stack.env["STACK_PASSWORD"])
    yield idp
    idp.stop()


def test_token_from_a_second_provider(url: str, second_idp: IdpProcess) -> None:
    token = login(second_idp.issuer, "carol", second_idp.password)
    assert parts(token)[1]["aud"] == CLIENT_ID  # same client id, same users: other issuer
    r = issue(url, token, "prod")
    assert r.status_code == 401
    assert r.json()["reason"] == "Unauthorized"


# --- key rotation at a real provider -------------------------------------------------------


@pytest.fixture(scope="module")
def second_backend(second_idp: IdpProcess) -> Iterator[BackendProcess]:
    backend = spawn_backend(second_idp.issuer, CLIENT_ID, name="idp2")
    yield backend
    backend.stop()


def test_rotated_key_is_accepted_without_restart(
    second_idp: IdpProcess, second_backend: BackendProcess
) -> None:
    before = login(second_idp.issuer, "alice", second_idp.password)
    assert issue(second_backend.url, before).status_code == 200  # the backend caches this key
    old_kid = parts(before)[0]["kid"]
    rotated = second_idp.rotate_keys()
    after = login(second_idp.issuer, "alice", second_idp.password)
    new_kid = parts(after)[0]["kid"]
    assert new_kid == rotated["signing_kid"] != old_kid
    r = issue(second_backend.url, after)
    assert r.status_code == 200, r.text
    assert issue(second_backend.url, before).status_code == 200  # old key still published
    assert second_backend.process.poll() is None  # same process throughout


# --- expiry and audience from real providers -----------------------------------------------


@pytest.fixture(scope="module")
def short_idp(tmp_path_factory: pytest.TempPathFactory, stack: Stack) -> Iterator[IdpProcess]:
    idp = start_idp(
        tmp_path_factory.mktemp("idp-short"),
        stack.env["STACK_PASSWORD"],
        client_id="other-client",
        id_token_ttl=2,
    )
    yield idp
    idp.stop()


def test_wrong_audience_from_a_real_provider(short_idp: IdpProcess) -> None:
    ours = spawn_backend(short_idp.issuer, CLIENT_ID, name="aud")
    theirs = spawn_backend(short_idp.issuer, "other-client", ["--leeway=0"], name="aud-ok")
    try:
        token = login(short_idp.issuer, "alice", short_idp.password, "other-client")
        assert issue(theirs.url, token).status_code == 200  # control: same token, right aud
        assert issue(ours.url, token).status_code == 401
        time.sleep(3.5)  # the provider's id_token_ttl is 2 s and this backend has no leeway
        r = issue(theirs.url, token)
        assert r.status_code == 401
        assert "expired" in r.json()["message"]
    finally:
        ours.stop()
        theirs.stop()


# --- one claim wrong, signed by a key the backend trusts -----------------------------------


@pytest.fixture(scope="module")
def static_issuer() -> Iterator[StaticIssuer]:
    issuer = StaticIssuer()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def static_backend(static_issuer: StaticIssuer) -> Iterator[BackendProcess]:
    backend = spawn_backend(static_issuer.issuer, CLIENT_ID, name="static")
    yield backend
    backend.stop()


BAD_CLAIMS: dict[str, dict[str, Any]] = {
    "wrong-iss": {"iss": "http://127.0.0.1:1"},
    "wrong-aud": {"aud": "other-client"},
    "aud-list-without-azp": {"aud": [CLIENT_ID, "other-client"]},
    # One audience, ours, yet issued to another client (a cross-client or exchanged token).
    "azp-other-client": {"azp": "other-client"},
    "expired": {"exp": int(time.time()) - 3600},
    "iat-future": {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200},
    "too-old": {"iat": int(time.time()) - 3 * 86400},
    "missing-sub": {"sub": None},
    "missing-exp": {"exp": None},
    "missing-iat": {"iat": None},
    "missing-email": {"email": None},
    "email-unverified": {"email_verified": False},
    "groups-not-list": {"groups": "team-a"},
    "groups-not-strings": {"groups": ["team-a", 7]},
    "groups-object": {"groups": {"team-a": True}},
}


def test_static_control_token_is_accepted(
    static_issuer: StaticIssuer, static_backend: BackendProcess
) -> None:
    claims = static_issuer.claims("ctl@example.test", ["team-a"], CLIENT_ID)
    r = issue(static_backend.url, static_issuer.sign(claims))
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "oidc:ctl@example.test"


@pytest.mark.parametrize("case", sorted(BAD_CLAIMS))
def test_one_bad_claim_is_401(
    static_issuer: StaticIssuer, static_backend: BackendProcess, case: str
) -> None:
    claims = static_issuer.claims("ctl@example.test", ["team-a"], CLIENT_ID)
    claims = {k: v for k, v in {**claims, **BAD_CLAIMS[case]}.items() if v is not None}
    r = issue(static_backend.url, static_issuer.sign(claims))
    assert r.status_code == 401, (case, r.text)
    assert r.json()["reason"] == "Unauthorized"


def test_unknown_kids_do_not_hammer_the_issuer(
    static_issuer: StaticIssuer, static_backend: BackendProcess
) -> None:
    """Twenty forged kids at once: all 401, one shared JWKS fetch, good tokens still work."""
    claims = static_issuer.claims("ctl@example.test", ["team-a"], CLIENT_ID)
    forged = [static_issuer.sign(claims, secrets.token_hex(6)) for _ in range(20)]
    before = static_issuer.jwks_fetches
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda t: issue(static_backend.url, t).status_code, forged))
    assert codes == [401] * 20
    assert static_issuer.jwks_fetches - before <= 2
    assert issue(static_backend.url, static_issuer.sign(claims)).status_code == 200


def test_azp_naming_this_client_is_accepted(
    static_issuer: StaticIssuer, static_backend: BackendProcess
) -> None:
    """The control for BAD_CLAIMS["azp-other-client"]: the same token naming us."""
    claims = static_issuer.claims("ctl@example.test", ["team-a"], CLIENT_ID)
    r = issue(static_backend.url, static_issuer.sign({**claims, "azp": CLIENT_ID}))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("typ", "status"),
    [(None, 200), ("JWT", 200), ("at+jwt", 401), ("application/at+jwt", 401), ("JOSE", 401)],
)
def test_typ_other_than_jwt_is_401(
    static_issuer: StaticIssuer, static_backend: BackendProcess, typ: str | None, status: int
) -> None:
    """An access token (RFC 9068 `at+jwt`) or another JWT from the same issuer, with the
    claims of a good id_token, is no login."""
    claims = static_issuer.claims("ctl@example.test", ["team-a"], CLIENT_ID)
    headers = {"kid": static_issuer.kid, **({"typ": typ} if typ else {})}
    token = jwt.encode(claims, static_issuer.private_key, algorithm="RS256", headers=headers)
    r = issue(static_backend.url, token)
    assert r.status_code == status, (typ, r.text)
    if status == 401:
        assert "typ" in r.json()["message"]


# --- the longest id_token lifetime deploy-level and promotion operations take ---------------

LIFETIME_USER = "lifetime@example.test"  # team-a: reads and deploys on dev (tests/stack/grants.py)


def lifetime_token(issuer: StaticIssuer, lifetime: int) -> str:
    claims = issuer.claims(LIFETIME_USER, ["team-a"], CLIENT_ID)
    now = int(time.time())
    # auth_time now: step-up (a login under 300 s) is not what refuses these.
    return issuer.sign({**claims, "iat": now, "exp": now + lifetime, "auth_time": now})


def post(url: str, path: str, token: str, body: dict[str, Any] | None = None) -> requests.Response:
    return http().post(
        url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


DEPLOY = {"level": "deploy", "justification": "lifetime test"}


def test_a_long_lived_id_token_reads_but_gets_no_deploy_credential(
    static_issuer: StaticIssuer, static_backend: BackendProcess
) -> None:
    """exp - iat above --max-token-lifetime (default 3600 s): the deploy credential is a 401
    naming the lifetime, the read credential is still issued; 3600 s exactly deploys."""
    path = "/api/v1/environments/dev/kubeconfig"
    long = lifetime_token(static_issuer, 2 * 3600)
    r = post(static_backend.url, path, long, DEPLOY)
    assert r.status_code == 401, r.text
    assert r.json()["reason"] == "Unauthorized"
    assert "7200 s" in r.json()["message"] and "3600 s" in r.json()["message"]
    assert post(static_backend.url, path, long, {}).status_code == 200  # reads unaffected
    ok = post(static_backend.url, path, lifetime_token(static_issuer, 3600), DEPLOY)
    assert ok.status_code == 200, ok.text
    assert ok.json()["level"] == "deploy"


def test_a_long_lived_id_token_takes_no_promotion_step(
    static_issuer: StaticIssuer, static_backend: BackendProcess
) -> None:
    """Promotion operations refuse it at authentication, before anything about the (here
    missing) promotion; the same requests with a 1 h token get past authentication, and
    listing promotions (a read) takes the long one."""
    name = "p-lifetime-" + secrets.token_hex(4)
    create: dict[str, Any] = {
        "release": name,
        "namespace": "shop",
        "chart": {"digest": "sha256:" + "0" * 64, "name": "shop-web", "version": "1.0.0"},
        "through": ["dev"],
        "justification": "lifetime test",
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/promotions", create),
        (f"/api/v1/promotions/{name}/cancel", {"justification": "lifetime test"}),
    ]
    long = lifetime_token(static_issuer, 2 * 3600)
    short = lifetime_token(static_issuer, 3600)
    for path, body in calls:
        refused = post(static_backend.url, path, long, body)
        assert refused.status_code == 401, (path, refused.text)
        assert "exp - iat" in refused.json()["message"]
        control = post(static_backend.url, path, short, body)
        assert control.status_code not in (401, 500), (path, control.text)
    listed = http().get(
        static_backend.url + "/api/v1/promotions",
        headers={"Authorization": f"Bearer {long}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text

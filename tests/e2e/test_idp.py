"""The local OIDC provider (tests/idp) against its own specs: real server, real pages, no mocks.

These tests start their own provider (node tests/idp/server.mjs) on a free loopback port.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests

from tests.stack import idp_login
from tests.stack.idp_login import IdpLoginError, IdpTokenError
from tests.stack.idp_process import IdpProcess, start_idp

PASSWORD = secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpProcess]:
    process = start_idp(tmp_path_factory.mktemp("idp"), PASSWORD)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def own_idp(tmp_path: Path) -> Iterator[IdpProcess]:
    """A provider for one test, for tests that change its keys."""
    process = start_idp(tmp_path / "idp", PASSWORD)
    try:
        yield process
    finally:
        process.stop()


def payload(token: str) -> dict[str, Any]:
    """The JWT payload, decoded for inspection only (no signature check)."""
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def header(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def verify(idp: IdpProcess, token: str) -> dict[str, Any]:
    """Checks the signature against the provider's JWKS, as a relying party would."""
    keys = jwt.PyJWKClient(f"{idp.issuer}/jwks", cache_jwk_set=False)
    key = keys.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=idp.client_id,
        issuer=idp.issuer,
        options={"require": ["iss", "aud", "exp", "iat", "sub"]},
    )
    return claims


def jwks_kids(idp: IdpProcess) -> set[str]:
    response = requests.get(f"{idp.issuer}/jwks", timeout=10)
    response.raise_for_status()
    return {key["kid"] for key in response.json()["keys"]}


def test_discovery_and_jwks(idp: IdpProcess) -> None:
    metadata = idp_login.discover(idp.issuer)
    assert metadata["issuer"] == idp.issuer
    assert idp.issuer.startswith("http://127.0.0.1:")
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["device_authorization_endpoint"] == f"{idp.issuer}/device/auth"
    assert {"openid", "email", "groups", "offline_access"} <= set(metadata["scopes_supported"])
    assert metadata["jwks_uri"] == f"{idp.issuer}/jwks"
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["kid"] == idp.admin("keys")["signing_kid"]
    assert "d" not in keys[0]  # public half only


def test_device_flow_alice(idp: IdpProcess) -> None:
    tokens = idp_login.device_flow_tokens(idp.issuer, idp.client_id, "alice", PASSWORD)
    claims = payload(tokens["id_token"])
    assert claims["groups"] == ["team-a"]
    assert claims["email"] == "alice@example.test"
    verified = verify(idp, tokens["id_token"])
    assert verified == claims
    assert verified["aud"] == idp.client_id
    assert "refresh_token" in tokens


def test_device_authorization_has_interval(idp: IdpProcess) -> None:
    _, device = idp_login.start_device_flow(idp.issuer, idp.client_id)
    assert device["interval"] == 1
    assert device["verification_uri_complete"].startswith(f"{idp.issuer}/device?user_code=")


def test_device_flow_with_typed_code(idp: IdpProcess) -> None:
    """The person opens the bare verification URI and types the code."""
    metadata, device = idp_login.start_device_flow(idp.issuer, idp.client_id)
    idp_login.device_login_approve(
        device["verification_uri"], device["user_code"], "carol", PASSWORD
    )
    tokens = idp_login.poll_device_token(metadata["token_endpoint"], idp.client_id, device)
    assert payload(tokens["id_token"])["groups"] == ["platform-admins"]


def test_authcode_bob_refresh_rotates(idp: IdpProcess) -> None:
    tokens = idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "bob", PASSWORD)
    claims = verify(idp, tokens["id_token"])
    assert claims["groups"] == ["team-b"]
    assert claims["email"] == "bob@example.test"
    old = tokens["refresh_token"]

    refreshed = idp_login.refresh_tokens(idp.issuer, idp.client_id, old)
    assert refreshed["refresh_token"] != old
    again = verify(idp, refreshed["id_token"])
    assert again["groups"] == ["team-b"]
    assert again["sub"] == claims["sub"]

    with pytest.raises(IdpTokenError) as rejected:
        idp_login.refresh_tokens(idp.issuer, idp.client_id, old)
    assert rejected.value.error == "invalid_grant"

    # Reuse of a rotated refresh token revokes the whole grant (as the OAuth security BCP asks):
    # the newest refresh token dies with it, so two clients refreshing at once log the user out.
    with pytest.raises(IdpTokenError) as revoked:
        idp_login.refresh_tokens(idp.issuer, idp.client_id, refreshed["refresh_token"])
    assert revoked.value.error == "invalid_grant"


def test_sub_is_stable_and_distinct(idp: IdpProcess) -> None:
    first = payload(
        idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "bob", PASSWORD)["id_token"]
    )
    second = payload(
        idp_login.device_flow_tokens(idp.issuer, idp.client_id, "bob", PASSWORD)["id_token"]
    )
    other = payload(
        idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "alice", PASSWORD)["id_token"]
    )
    assert first["sub"] == second["sub"] != other["sub"]
    assert first["sub"] not in ("bob", "bob@example.test")


def test_code_without_pkce_verifier_is_rejected(idp: IdpProcess) -> None:
    auth = idp_login.authorize(idp.issuer, idp.client_id, "alice", PASSWORD)
    with pytest.raises(IdpTokenError) as rejected:
        idp_login.exchange_code(auth, code_verifier=None)
    assert rejected.value.error in ("invalid_grant", "invalid_request")


def test_code_with_wrong_pkce_verifier_is_rejected(idp: IdpProcess) -> None:
    auth = idp_login.authorize(idp.issuer, idp.client_id, "alice", PASSWORD)
    wrong, _ = idp_login.pkce_pair()
    with pytest.raises(IdpTokenError) as rejected:
        idp_login.exchange_code(auth, code_verifier=wrong)
    assert rejected.value.error == "invalid_grant"


def test_authorization_without_pkce_challenge_is_refused(idp: IdpProcess) -> None:
    metadata = idp_login.discover(idp.issuer)
    response = requests.get(
        metadata["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": idp.client_id,
            "redirect_uri": "http://127.0.0.1:45678/callback",
            "scope": "openid",
            "state": "s",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303
    assert "error=invalid_request" in response.headers["location"]


def test_wrong_password_does_not_sign_in(idp: IdpProcess) -> None:
    metadata = idp_login.discover(idp.issuer)
    url = authorization_url(metadata, idp.client_id)
    with pytest.raises(IdpLoginError, match="sign-in refused"):
        idp_login.authcode_browser(url, "alice", PASSWORD + "x")
    with pytest.raises(IdpLoginError, match="sign-in refused"):
        idp_login.authcode_browser(url, "nobody", PASSWORD)


def test_wrong_password_page_and_no_session(idp: IdpProcess) -> None:
    browser = requests.Session()
    metadata = idp_login.discover(idp.issuer)
    page = open_login_page(browser, authorization_url(metadata, idp.client_id))
    form = next(f for f in page.forms if f.has("password"))
    answer = idp_login.submit(browser, page, form, username="alice", password="wrong")
    assert answer.status_code == 401
    again = idp_login.parse_page(answer)
    assert "error" in again.element_ids
    assert any(f.has("password") for f in again.forms)
    # The same browser is still signed out: the next authorization asks for a password again.
    fresh = open_login_page(browser, authorization_url(metadata, idp.client_id))
    assert any(f.has("password") for f in fresh.forms)


def test_device_flow_wrong_password_stays_pending(idp: IdpProcess) -> None:
    metadata, device = idp_login.start_device_flow(idp.issuer, idp.client_id)
    with pytest.raises(IdpLoginError, match="sign-in refused"):
        idp_login.device_login_approve(
            device["verification_uri_complete"], device["user_code"], "alice", "wrong"
        )
    with pytest.raises(IdpTokenError) as pending:
        idp_login.token_request(
            metadata["token_endpoint"],
            {
                "grant_type": idp_login.DEVICE_GRANT,
                "client_id": idp.client_id,
                "device_code": device["device_code"],
            },
        )
    assert pending.value.error == "authorization_pending"


def test_mallory_has_no_groups(idp: IdpProcess) -> None:
    tokens = idp_login.device_flow_tokens(idp.issuer, idp.client_id, "mallory", PASSWORD)
    claims = verify(idp, tokens["id_token"])
    assert claims["groups"] == []
    assert claims["email"] == "mallory@example.test"


def test_default_id_token_ttl(idp: IdpProcess) -> None:
    claims = payload(
        idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "carol", PASSWORD)["id_token"]
    )
    assert claims["exp"] - claims["iat"] == 3600


def test_short_id_token_ttl(tmp_path: Path) -> None:
    short = start_idp(tmp_path / "idp", PASSWORD, id_token_ttl=5)
    try:
        tokens = idp_login.device_flow_tokens(short.issuer, short.client_id, "alice", PASSWORD)
        claims = verify(short, tokens["id_token"])
        assert claims["exp"] - claims["iat"] == 5
        refreshed = idp_login.refresh_tokens(short.issuer, short.client_id, tokens["refresh_token"])
        again = payload(refreshed["id_token"])
        assert again["exp"] - again["iat"] == 5
    finally:
        short.stop()


def test_key_rotation(own_idp: IdpProcess) -> None:
    idp = own_idp
    before = idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "carol", PASSWORD)
    old_kid = header(before["id_token"])["kid"]
    assert jwks_kids(idp) == {old_kid}

    rotated = idp.rotate_keys()
    new_kid = rotated["signing_kid"]
    assert rotated["kids"] == [new_kid, old_kid]
    assert jwks_kids(idp) == {new_kid, old_kid}

    after = idp_login.device_flow_tokens(idp.issuer, idp.client_id, "alice", PASSWORD)
    assert header(after["id_token"])["kid"] == new_kid
    verify(idp, after["id_token"])
    verify(idp, before["id_token"])  # still verifiable while the old key is published

    # A refresh token from before the rotation still works; the new id_token has the new kid.
    refreshed = idp_login.refresh_tokens(idp.issuer, idp.client_id, before["refresh_token"])
    assert header(refreshed["id_token"])["kid"] == new_kid
    assert verify(idp, refreshed["id_token"])["groups"] == ["platform-admins"]

    retired = idp.retire_keys()
    assert retired["kids"] == [new_kid]
    assert jwks_kids(idp) == {new_kid}
    with pytest.raises(jwt.PyJWKClientError):
        verify(idp, before["id_token"])
    verify(idp, after["id_token"])

    # Refresh tokens and sessions outlive the retirement too.
    later = idp_login.refresh_tokens(idp.issuer, idp.client_id, refreshed["refresh_token"])
    assert header(later["id_token"])["kid"] == new_kid


def test_admin_routes_need_the_secret(idp: IdpProcess) -> None:
    for secret in (None, "wrong"):
        headers = {"X-Admin-Secret": secret} if secret else {}
        response = requests.post(f"{idp.issuer}/admin/rotate", headers=headers, timeout=10)
        assert response.status_code == 404
    assert len(idp.admin("keys")["kids"]) == 1


def test_dave_has_two_groups(idp: IdpProcess) -> None:
    claims = verify(
        idp, idp_login.device_flow_tokens(idp.issuer, idp.client_id, "dave", PASSWORD)["id_token"]
    )
    assert claims["groups"] == ["platform-admins", "release-managers"]
    assert claims["email"] == "dave@example.test"


# --- auth_time and max_age (step-up, RFC 9470) ------------------------------------------------


def test_every_id_token_carries_auth_time(idp: IdpProcess) -> None:
    """The client's require_auth_time: no max_age asked, auth_time present all the same, and a
    refresh keeps the time of the login (a refresh is not an authentication)."""
    code = verify(
        idp,
        idp_login.authcode_flow_tokens(idp.issuer, idp.client_id, "alice", PASSWORD)["id_token"],
    )
    tokens = idp_login.device_flow_tokens(idp.issuer, idp.client_id, "bob", PASSWORD)
    device = verify(idp, tokens["id_token"])
    for claims in (code, device):
        assert isinstance(claims["auth_time"], int)
        assert claims["auth_time"] <= claims["iat"]
    wait_past(device["auth_time"])
    refreshed = verify(
        idp,
        idp_login.refresh_tokens(idp.issuer, idp.client_id, tokens["refresh_token"])["id_token"],
    )
    assert refreshed["iat"] > device["auth_time"]
    assert refreshed["auth_time"] == device["auth_time"]


def test_provider_session_is_reused_without_max_age(idp: IdpProcess) -> None:
    """What makes the max_age tests below mean something: the same browser signs in once."""
    browser = idp_login.browser()
    first: list[str] = []
    login = signed_in_tokens(idp, "carol", browser, first)
    assert "login" in first
    again: list[str] = []
    tokens = idp_login.authcode_flow_tokens(
        idp.issuer, idp.client_id, "carol", PASSWORD, session=browser, seen=again
    )
    assert "login" not in again
    assert verify(idp, tokens["id_token"])["auth_time"] == login["auth_time"]


@pytest.mark.parametrize("flow", ["authcode", "device"])
def test_max_age_older_than_the_session_asks_for_a_login(idp: IdpProcess, flow: str) -> None:
    browser = idp_login.browser()
    login = signed_in_tokens(idp, "dave", browser, [])
    wait_past(login["auth_time"] + 1)  # the session is now older than max_age=1
    seen: list[str] = []
    tokens = FLOWS[flow](idp, "dave", browser, seen, {"max_age": "1"})
    assert seen.count("login") == 1
    claims = verify(idp, tokens["id_token"])
    assert claims["auth_time"] > login["auth_time"]
    assert claims["sub"] == login["sub"]


@pytest.mark.parametrize("flow", ["authcode", "device"])
def test_max_age_satisfied_asks_for_no_login(idp: IdpProcess, flow: str) -> None:
    browser = idp_login.browser()
    login = signed_in_tokens(idp, "dave", browser, [])
    seen: list[str] = []
    tokens = FLOWS[flow](idp, "dave", browser, seen, {"max_age": "3600"})
    assert "login" not in seen
    assert verify(idp, tokens["id_token"])["auth_time"] == login["auth_time"]


def test_max_age_zero_always_asks_for_a_login(idp: IdpProcess) -> None:
    browser = idp_login.browser()
    login = signed_in_tokens(idp, "alice", browser, [])
    seen: list[str] = []
    tokens = authcode_in(idp, "alice", browser, seen, {"max_age": "0"})
    assert seen.count("login") == 1
    assert verify(idp, tokens["id_token"])["auth_time"] >= login["auth_time"]


def test_invalid_max_age_is_refused(idp: IdpProcess) -> None:
    with pytest.raises(IdpLoginError, match="invalid_request"):
        idp_login.authcode_flow_tokens(
            idp.issuer, idp.client_id, "alice", PASSWORD, extra_params={"max_age": "-1"}
        )


# --- helpers ---------------------------------------------------------------------------------


def authorization_url(metadata: dict[str, Any], client_id: str) -> str:
    _, challenge = idp_login.pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:45678/callback",
            "scope": "openid email groups",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{metadata['authorization_endpoint']}?{query}"


def open_login_page(browser: requests.Session, url: str) -> idp_login.Page:
    response = browser.get(url, timeout=10)  # follows the redirect to /interaction/<uid>
    assert response.status_code == 200
    return idp_login.parse_page(response)


def wait_past(epoch_seconds: int) -> None:
    """Sleeps until the wall clock (the provider's too: same machine) is past a second."""
    while time.time() < epoch_seconds + 1:
        time.sleep(0.1)


def signed_in_tokens(
    idp: IdpProcess, user: str, browser: requests.Session, seen: list[str]
) -> dict[str, Any]:
    """A code-flow login in ``browser``, which keeps the provider's session; the id_token."""
    tokens = idp_login.authcode_flow_tokens(
        idp.issuer, idp.client_id, user, PASSWORD, session=browser, seen=seen
    )
    return verify(idp, tokens["id_token"])


def authcode_in(
    idp: IdpProcess, user: str, browser: requests.Session, seen: list[str], extra: dict[str, str]
) -> dict[str, Any]:
    return idp_login.authcode_flow_tokens(
        idp.issuer, idp.client_id, user, PASSWORD, extra_params=extra, session=browser, seen=seen
    )


def device_in(
    idp: IdpProcess, user: str, browser: requests.Session, seen: list[str], extra: dict[str, str]
) -> dict[str, Any]:
    return idp_login.device_flow_tokens(
        idp.issuer, idp.client_id, user, PASSWORD, extra_params=extra, session=browser, seen=seen
    )


FLOWS = {"authcode": authcode_in, "device": device_in}

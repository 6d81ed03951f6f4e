"""Sealed values (ui/sealed.py), the pending login's cookie (ui/session.py) and the sealing
keys' Secret format and rotation (ui/sealing_keys.py): pure functions."""

from __future__ import annotations

import base64

import pytest

from scipian_backend.ui.sealed import Keyring, new_key, open_sealed, seal
from scipian_backend.ui.sealing_keys import ring_from_data, rotated_data
from scipian_backend.ui.session import new_pending, open_pending, seal_pending

NOW = 1_800_000_000.0


def ring(*ids: str) -> Keyring:
    return Keyring(ids[0], {i: new_key() for i in ids})


def test_a_sealed_value_opens_with_its_key_and_purpose_until_it_expires() -> None:
    r = ring("k1")
    text = seal(r, "pending-login", {"a": 1, "b": "two"}, NOW + 60)
    assert text.startswith("v1.k1.")
    assert open_sealed(r, "pending-login", text, NOW) == {"a": 1, "b": "two"}
    assert open_sealed(r, "pending-login", text, NOW + 59) is not None
    assert open_sealed(r, "pending-login", text, NOW + 60) is None  # expired
    assert open_sealed(r, "something-else", text, NOW) is None  # another purpose
    # The plaintext is not readable in the cookie.
    assert "two" not in text and "two" not in base64.urlsafe_b64decode(text[6:] + "==").decode(
        "latin-1"
    )


def test_any_changed_byte_or_another_key_refuses_it() -> None:
    r = ring("k1")
    text = seal(r, "p", {"a": 1}, NOW + 60)
    body = text.split(".")[2]
    for i in range(0, len(body), 7):
        flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert open_sealed(r, "p", f"v1.k1.{flipped}", NOW) is None
    other = Keyring("k1", {"k1": new_key()})  # same id, another key
    assert open_sealed(other, "p", text, NOW) is None
    # The key id is bound too: the same bytes under another id do not open.
    both = Keyring("k1", {"k1": r.keys["k1"], "k2": r.keys["k1"]})
    assert open_sealed(both, "p", "v1.k2." + body, NOW) is None
    for junk in ("", "v1", "v1.k1.", "v2.k1." + body, "v1.K1." + body, "v1.k1.!!!", "x" * 5000):
        assert open_sealed(r, "p", junk, NOW) is None


def test_a_rotation_keeps_the_previous_key_and_drops_the_one_before() -> None:
    first = ring_from_data(rotated_data(None, "k1", new_key()))
    assert first is not None and first.current == "k1"
    sealed_k1 = seal(first, "p", {"x": 1}, NOW + 60)
    second = ring_from_data(rotated_data(first, "k2", new_key()))
    assert second is not None and second.current == "k2" and set(second.keys) == {"k1", "k2"}
    assert open_sealed(second, "p", sealed_k1, NOW) == {"x": 1}  # a login under way
    assert seal(second, "p", {}, NOW + 60).startswith("v1.k2.")
    third = ring_from_data(rotated_data(second, "k3", new_key()))
    assert third is not None and set(third.keys) == {"k2", "k3"}
    assert open_sealed(third, "p", sealed_k1, NOW) is None


def test_a_malformed_keys_secret_is_no_keyring() -> None:
    good = rotated_data(None, "k1", new_key())
    assert ring_from_data(good) is not None
    assert ring_from_data(None) is None
    assert ring_from_data({**good, "current": base64.b64encode(b"k9").decode()}) is None
    assert ring_from_data({**good, "key-k1": base64.b64encode(b"short").decode()}) is None
    assert ring_from_data({**good, "key-k1": "not base64!"}) is None
    with pytest.raises(ValueError):
        rotated_data(None, "K1", new_key())
    assert "b'" not in repr(ring("k1"))  # a repr never shows a key


def test_a_pending_login_round_trips_through_its_cookie() -> None:
    r = ring("k1")
    action = ("approve", "web-abcde", "prod", "ship it ✓", "sha256:" + "e" * 64)
    p = new_pending("/ui/promotions/web-abcde", NOW + 600, user="oidc:a", action=action, max_age=5)
    cookie = seal_pending(r, p)
    back = open_pending(r, cookie, NOW)
    assert back == p
    plain = new_pending("/ui/", NOW + 600)
    assert open_pending(r, seal_pending(r, plain), NOW) == plain
    assert open_pending(r, cookie, NOW + 600) is None
    assert len({p.state, p.verifier, p.nonce, plain.state}) == 4  # fresh randoms each


def test_a_long_return_path_returns_to_the_dashboard_and_a_long_form_fits_a_cookie() -> None:
    assert new_pending("/ui/" + "a" * 600, NOW).return_to == "/ui/"
    # The longest step-up form: a 512-character justification of 4-byte characters, by
    # someone with the longest e-mail address, back to the promotion's page.
    name = "n" * 63
    action = ("approve", name, "e" * 63, "\U0001f600" * 512, "sha256:" + "e" * 64)
    back = f"/ui/promotions/{name}"
    p = new_pending(back, NOW + 600, user="oidc:" + "u" * 254, action=action)
    assert len(seal_pending(ring("k1"), p)) <= 4000

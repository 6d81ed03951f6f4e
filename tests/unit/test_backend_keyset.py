"""The JWKS cache (scipian_backend.identity.authn.KeySet) with a provider given as a plain
object and fetches run when the test says: which requests wait, and how often it fetches.

The same behaviour against a real backend process and an issuer over HTTP:
tests/e2e/test_backend_unknown_kids.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from scipian_backend.config import Settings
from scipian_backend.errors import ServiceUnavailable, Unauthorized
from scipian_backend.identity.authn import KeySet

ISSUER = "https://idp.example.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str) -> dict[str, Any]:
    d: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    d.update(kid=kid, alg="RS256", use="sig")
    return d


class Answer:
    def __init__(self, doc: Any) -> None:
        self._doc = doc

    def raise_for_status(self) -> None:
        pass

    def json(self) -> Any:
        return self._doc


class Provider:
    """Discovery and a JWKS whose kids the test sets; counts the JWKS fetches; `down`
    makes every request fail as a refused connection would."""

    def __init__(self, *kids: str) -> None:
        self.kids = list(kids)
        self.jwks_fetches = 0
        self.down = False

    def get(self, url: str, timeout: float) -> Answer:
        if self.down:
            raise requests.ConnectionError("refused")
        if url.endswith("/.well-known/openid-configuration"):
            return Answer({"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"})
        self.jwks_fetches += 1
        return Answer({"keys": [jwk(k) for k in self.kids]})


class World:
    """A KeySet on a clock the test moves, whose fetches wait in `pending` until run."""

    def __init__(self, *kids: str, min_refetch: float = 30.0, timeout: float = 0.01) -> None:
        self.now = 1000.0
        self.provider = Provider(*kids)
        self.pending: list[Callable[[], None]] = []
        settings = Settings(
            issuer=ISSUER,
            client_id="kubectl-scipian",
            jwks_min_refetch_seconds=min_refetch,
            http_timeout_seconds=timeout,  # how long the fetch's starter waits (here: not)
        )
        self.keys = KeySet(
            settings,
            session=self.provider,  # type: ignore[arg-type]
            clock=lambda: self.now,
            start=self.pending.append,
        )

    def run_fetches(self) -> int:
        ran = len(self.pending)
        while self.pending:
            self.pending.pop(0)()
        return ran

    def loaded(self) -> KeySet:
        """The set after its first fetch (what /readyz does at start-up)."""
        self.keys._start = lambda fetch: fetch()
        assert self.keys.ready()
        self.keys._start = self.pending.append
        return self.keys


def test_the_first_fetch_loads_the_keys() -> None:
    w = World("k1")
    assert w.loaded().key("k1").key_id == "k1"
    assert w.provider.jwks_fetches == 1


def test_an_unknown_kid_fetches_once_and_is_then_refused_at_once() -> None:
    w = World("k1")
    keys = w.loaded()
    with pytest.raises(Unauthorized, match="unknown key"):
        keys.key("forged-1")  # starts a fetch (held in pending), waits its short timeout
    assert len(w.pending) == 1
    for i in range(50):  # while it runs: refused, no second fetch
        with pytest.raises(Unauthorized, match="unknown key"):
            keys.key(f"forged-running-{i}")
    assert len(w.pending) == 1
    assert w.run_fetches() == 1
    w.now += 29
    for i in range(50):  # inside the interval after it: refused, no fetch
        with pytest.raises(Unauthorized, match="unknown key"):
            keys.key(f"forged-after-{i}")
    assert w.pending == []
    assert w.provider.jwks_fetches == 2  # the start-up fetch and the one forged kids caused
    w.now += 2  # past the interval: the next unknown kid may fetch again
    with pytest.raises(Unauthorized):
        keys.key("forged-later")
    assert len(w.pending) == 1


def test_a_known_kid_never_waits_for_a_running_fetch() -> None:
    w = World("k1", timeout=3600)  # a starter would wait an hour: nobody else may
    keys = w.loaded()
    keys._start = lambda fetch: None  # a fetch that never ends
    keys._begin(probe=True)
    assert keys._running is not None
    assert keys.key("k1").key_id == "k1"  # answered while the fetch is still running
    with pytest.raises(Unauthorized):
        keys.key("forged")  # refused at once, not made to wait for that fetch


def test_a_rotated_key_works_on_first_use() -> None:
    w = World("k1")
    keys = w.loaded()
    w.provider.kids.append("k2")
    keys._start = lambda fetch: fetch()  # the fetch ends at once
    assert keys.key("k2").key_id == "k2"


def test_a_stale_set_keeps_answering_and_refreshes_in_the_background() -> None:
    w = World("k1")
    keys = w.loaded()
    w.now += 301  # past jwks_lifespan_seconds (300)
    w.provider.kids = ["k2"]  # k1 retired
    assert keys.key("k1").key_id == "k1"  # not made to wait for the refresh it started
    assert keys.key("k1").key_id == "k1"
    assert w.run_fetches() == 1  # one refresh for both
    with pytest.raises(Unauthorized):
        keys.key("k1")  # dropped once the refresh ran


def test_a_provider_outage_keeps_known_keys_and_is_not_hammered() -> None:
    w = World("k1")
    keys = w.loaded()
    w.provider.down = True
    w.now += 301
    assert keys.key("k1").key_id == "k1"
    assert w.run_fetches() == 1  # failed
    assert keys.key("k1").key_id == "k1"  # still verifying with the known key
    assert w.pending == []  # and no new fetch inside the interval
    w.now += 31
    keys.key("k1")
    assert len(w.pending) == 1


def test_no_keys_at_all_is_the_providers_fault() -> None:
    w = World("k1")
    w.provider.down = True
    w.keys._start = lambda fetch: fetch()
    assert not w.keys.ready()
    with pytest.raises(ServiceUnavailable, match="ConnectionError"):
        w.keys.key("k1")
    assert not w.keys.ready()  # inside the interval: no fetch, still not ready
    w.provider.down = False
    w.now += 31
    assert w.keys.ready()
    assert w.keys.key("k1").key_id == "k1"


def test_a_fetch_that_raises_unexpectedly_still_ends() -> None:
    w = World("k1")
    keys = w.loaded()

    def broken(url: str, timeout: float) -> Answer:
        raise RuntimeError("bug")

    w.provider.get = broken  # type: ignore[method-assign]
    with pytest.raises(Unauthorized):
        keys.key("forged")
    with pytest.raises(RuntimeError):
        w.run_fetches()
    assert keys._running is None  # the next fetch is not blocked forever


def test_a_fetch_that_cannot_start_blocks_nothing_after_it() -> None:
    w = World("k1")
    keys = w.loaded()

    def no_thread(fetch: Callable[[], None]) -> None:
        raise RuntimeError("can't start new thread")

    keys._start = no_thread
    with pytest.raises(Unauthorized):
        keys.key("forged")
    assert keys._running is None
    keys._start = w.pending.append
    with pytest.raises(Unauthorized):
        keys.key("forged-again")
    assert len(w.pending) == 1  # the next unknown kid may fetch

"""Unknown signing keys: forged `kid`s hold no worker thread and do not hammer the provider.

The attack (security review M1): id_tokens with random `kid`s, no signature worth the name,
from anyone on the network. Each used to make a worker thread wait for a JWKS refetch while
holding the key set's lock, so twenty a second stalled every issuance.

A backend of the test's own trusts a StaticIssuer (tests/stack/backend_daemon.py) whose JWKS
answers the test can hold: a refetch then stays in flight for as long as the test says, so
"answered while the refetch is in flight" is a fact of ordering, not of timing. The provider
counts the JWKS fetches it served. `--jwks-min-refetch=600` makes "recent" cover the whole
module, however slow the machine.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import Stack
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"
USER = "kid-flood@example.test"  # team-a: reads on dev (tests/stack/grants.py)
FLOOD = 120  # forged requests at once: three times the backend's 40 worker threads


def issue(url: str, token: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    return s.post(
        f"{url}/api/v1/environments/dev/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def issuer(stack: Stack) -> Iterator[StaticIssuer]:
    issuer = StaticIssuer()
    yield issuer
    issuer.jwks_open.set()
    issuer.stop()


@pytest.fixture(scope="module")
def backend(issuer: StaticIssuer) -> Iterator[BackendProcess]:
    backend = spawn_backend(issuer.issuer, CLIENT_ID, ["--jwks-min-refetch=600"], name="kids")
    yield backend
    backend.stop()


def good(issuer: StaticIssuer) -> str:
    """A valid id_token never seen before (the backend remembers verified ones for a few
    seconds; a new one has its signature checked with the known key)."""
    claims = issuer.claims(USER, ["team-a"], CLIENT_ID)
    return issuer.sign({**claims, "nonce": secrets.token_hex(8)})


def forged(issuer: StaticIssuer) -> str:
    claims = issuer.claims(USER, ["team-a"], CLIENT_ID)
    return issuer.sign(claims, kid="forged-" + secrets.token_hex(8))


def test_a_flood_during_a_refetch_is_refused_at_once_and_issuance_goes_on(
    issuer: StaticIssuer, backend: BackendProcess
) -> None:
    assert issue(backend.url, good(issuer)).status_code == 200  # the key is known
    before = issuer.jwks_fetches
    issuer.jwks_asked.clear()
    issuer.jwks_open.clear()  # the next JWKS fetch is held at the provider
    pool = ThreadPoolExecutor(FLOOD + 1)
    try:
        starter = pool.submit(issue, backend.url, forged(issuer))
        assert issuer.jwks_asked.wait(60), "an unknown kid started no JWKS fetch"
        tokens = [forged(issuer) for _ in range(FLOOD)]
        flood = list(pool.map(lambda t: issue(backend.url, t), tokens))
        legit = issue(backend.url, good(issuer))
        # All of it was answered while the refetch was still held at the provider.
        assert not issuer.jwks_open.is_set()
    finally:
        issuer.jwks_open.set()
        pool.shutdown()
    assert [r.status_code for r in flood] == [401] * FLOOD
    assert {r.json()["message"] for r in flood} == {"id_token signed by an unknown key"}
    assert legit.status_code == 200, legit.text
    assert starter.result().status_code == 401
    assert issuer.jwks_fetches - before == 1  # one refetch for 121 unknown kids


def test_after_a_recent_refetch_unknown_kids_fetch_nothing(
    issuer: StaticIssuer, backend: BackendProcess
) -> None:
    """The refetch above is recent (--jwks-min-refetch=600): every unknown kid now is
    refused without asking the provider, and good tokens still verify."""
    # Run alone, this one unknown kid makes the refetch; after the test above, it is one.
    assert issue(backend.url, forged(issuer)).status_code == 401
    before = issuer.jwks_fetches
    tokens = [forged(issuer) for _ in range(200)]
    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(lambda t: issue(backend.url, t).status_code, tokens))
    assert codes == [401] * 200
    assert issuer.jwks_fetches == before
    assert issue(backend.url, good(issuer)).status_code == 200

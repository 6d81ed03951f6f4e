"""Promotion routes ask RBAC (`get promotions`, name) before they say whether a promotion
exists, what its chain holds or who started it (security review L1): mallory, who reads no
promotions, gets the same answer for carol's promotion and for one that does not exist."""

from __future__ import annotations

import pytest

from tests.e2e.promotions.world import Api, Archive, Flow, Logins, step_of

pytestmark = pytest.mark.stack


def forbidden(name: str) -> str:
    return (
        f'promotions.scipian.io "{name}" is forbidden: User "oidc:mallory@example.test" '
        'cannot get resource "promotions" in API group "scipian.io" at the cluster scope'
    )


def test_non_readers_learn_nothing_of_a_promotion(
    api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    promo = flow.start(logins.fresh("carol"), release, charts["1.2.0"], ["dev"])
    name = promo["metadata"]["name"]
    digest = step_of(promo, "dev")["renderDigest"]
    rv = promo["metadata"]["resourceVersion"]
    missing = f"{release}-nosuch"
    mallory = logins.token("mallory")
    answers = {}
    for promo_name in (name, missing):
        calls = {
            "get": api.get(mallory, promo_name),
            "watch": api.watch(mallory, promo_name, rv),
            "cancel": api.cancel(mallory, promo_name, "stop"),
        }
        for what, got in calls.items():
            assert (what, got.status_code, got.json()) == (
                what,
                403,
                {"reason": "Forbidden", "message": forbidden(promo_name)},
            )
            assert "carol" not in got.text
        # approving needs the approve grant first, whatever the promotion
        approve = api.approve(mallory, promo_name, "dev", "ok", digest)
        answers[promo_name] = (approve.status_code, approve.json()["message"])
        assert "carol" not in approve.text
    assert (
        answers[name]
        == answers[missing]
        == (
            403,
            "oidc:mallory@example.test may not approve on environment dev",
        )
    )
    # a reader still hears the facts: alice (team-a reads promotions) is not its initiator
    alice = logins.token("alice")
    assert api.get(alice, name).json()["spec"]["initiator"]["user"] == "oidc:carol@example.test"
    assert api.get(alice, missing).status_code == 404
    assert api.cancel(alice, missing, "stop").status_code == 404

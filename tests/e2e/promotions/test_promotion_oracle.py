"""Promotion routes ask RBAC (`get promotions`, name) before they say whether a promotion
exists, what its chain holds or who started it (security review L1): mallory, who reads no
promotions, gets kubectl's 403 alike for carol's promotion and for one that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.promotions.world import Api, Helm, Logins, plan

pytestmark = pytest.mark.stack


def forbidden(name: str) -> str:
    return (
        f'promotions.scipian.io "{name}" is forbidden: User "oidc:mallory@example.test" '
        'cannot get resource "promotions" in API group "scipian.io" at the cluster scope'
    )


def test_non_readers_learn_nothing_of_a_promotion(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    created = api.create(logins.fresh("carol"), **plan(release, identity, "1.2.0", ["dev"]))
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    missing = f"{release}-nosuch"
    mallory = logins.token("mallory")
    for promo in (name, missing):
        calls = {
            "kubeconfig": api.step(mallory, promo, "dev", "kubeconfig", {}),
            "report": api.step(mallory, promo, "dev", "report", {"helmExitCode": 0}),
            "verify": api.step(mallory, promo, "dev", "verify", {}),
            "resume": api.resume(mallory, promo, identity),
        }
        for what, got in calls.items():
            assert (what, got.status_code, got.json()) == (
                what,
                403,
                {"reason": "Forbidden", "message": forbidden(promo)},
            )
            assert "carol" not in got.text
    # a reader still hears the facts: alice (team-a reads promotions) is not its initiator
    alice = api.step(logins.token("alice"), name, "dev", "kubeconfig", {})
    assert alice.status_code == 403
    assert "oidc:carol@example.test" in alice.json()["message"]
    assert api.step(logins.token("alice"), missing, "dev", "kubeconfig", {}).status_code == 404

"""Approvals over the HTTP API: never the initiator, never a user without the grant
(`create environments/approve` on prod: release-managers), once per user."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.promotions.world import Api, Helm, Logins, plan, step_of

pytestmark = pytest.mark.stack


def test_self_approval_is_refused(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    dave = logins.fresh("dave")  # may deploy everywhere and approve prod: still not his own
    created = api.create(dave, **plan(release, identity, "1.2.0", ["dev", "staging", "prod"]))
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    refused = api.approve(dave, name, "prod", "looks fine to me")
    assert refused.status_code == 403
    assert refused.json() == {
        "reason": "Forbidden",
        "message": f"oidc:dave@example.test started promotion {name} and cannot approve it",
    }
    assert step_of(api.get(dave, name).json(), "prod")["approvals"] == []


def test_non_members_cannot_approve_and_one_user_approves_once(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging", "prod"])).json()[
        "metadata"
    ]["name"]
    for user in ("alice", "bob", "mallory"):
        refused = api.approve(logins.token(user), name, "prod", "me too")
        assert refused.status_code == 403, user
        assert (
            refused.json()["message"]
            == f"oidc:{user}@example.test may not approve on environment prod"
        )
    dave = logins.fresh("dave")
    # approvals may arrive before the chain reaches the step
    first = api.approve(dave, name, "prod", "CAB ok")
    assert first.status_code == 200, first.text
    assert [a["user"] for a in step_of(first.json(), "prod")["approvals"]] == [
        "oidc:dave@example.test"
    ]
    second = api.approve(dave, name, "prod", "again")
    assert second.status_code == 409
    assert (
        second.json()["message"] == f"oidc:dave@example.test already approved step prod of {name}"
    )
    # a step that is not in the chain, and a promotion that does not exist
    assert api.approve(dave, name, "dev", "x").status_code == 403  # no grant on dev
    assert api.approve(dave, "no-such-promotion-x", "prod", "x").status_code == 404
    # a body without a justification is refused before anything else
    assert api.step(dave, name, "prod", "approvals", {}).status_code == 400

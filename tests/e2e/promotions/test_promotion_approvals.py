"""Approvals over the HTTP API: never the initiator, never a user without the grant
(`create environments/approve` on prod: release-managers), once per user, and bound to the
diff the approver read: `diffDigest` must be the step's `renderDigest` (change.md §6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.promotions.world import (
    Api,
    Archive,
    Flow,
    Logins,
    rollback_plan,
    step_of,
    upgrade_args,
)

pytestmark = pytest.mark.stack

OTHER = "sha256:" + "0" * 64


def test_self_approval_is_refused(
    api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    dave = logins.fresh("dave")  # may deploy everywhere and approve prod: still not his own
    promo = flow.start(dave, release, charts["1.2.0"], ["dev", "staging", "prod"])
    name = promo["metadata"]["name"]
    digest = step_of(promo, "prod")["renderDigest"]
    refused = api.approve(dave, name, "prod", "looks fine to me", digest)
    assert refused.status_code == 403
    assert refused.json() == {
        "reason": "Forbidden",
        "message": f"oidc:dave@example.test started promotion {name} and cannot approve it",
    }
    assert step_of(api.get(dave, name).json(), "prod")["approvals"] == []


def test_non_members_cannot_approve_and_one_user_approves_once(
    api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, charts["1.2.0"], ["dev", "staging", "prod"])
    name = promo["metadata"]["name"]
    digest = step_of(promo, "prod")["renderDigest"]
    for user in ("alice", "bob", "mallory"):
        refused = api.approve(logins.token(user), name, "prod", "me too", digest)
        assert refused.status_code == 403, user
        assert (
            refused.json()["message"]
            == f"oidc:{user}@example.test may not approve on environment prod"
        )
    dave = logins.fresh("dave")
    # approvals may arrive before the chain reaches the step
    first = api.approve(dave, name, "prod", "CAB ok", digest)
    assert first.status_code == 200, first.text
    [approval] = step_of(first.json(), "prod")["approvals"]
    assert approval["user"] == "oidc:dave@example.test"
    second = api.approve(dave, name, "prod", "again", digest)
    assert second.status_code == 409
    assert (
        second.json()["message"] == f"oidc:dave@example.test already approved step prod of {name}"
    )
    # a step that is not in the chain, and a promotion that does not exist
    bob = logins.token("bob")
    assert api.approve(bob, name, "dev", "x", digest).status_code == 403  # no grant on dev
    assert api.approve(dave, "no-such-promotion-x", "prod", "x", digest).status_code == 404
    # a body without a justification, or without the digest, is refused before anything
    assert api.step(dave, name, "prod", "approvals", {"diffDigest": digest}).status_code == 400
    assert api.approve(dave, name, "prod", "no digest", None).status_code == 400


def test_an_approval_binds_the_diff_its_approver_read(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    """A rollback on prod waits for one approval and runs nothing before it: an approval
    naming another digest is 409 and records nothing; the step's own digest is recorded
    with the approval, which moves the step on."""
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    admin("prod", *upgrade_args(release, charts["1.2.0"]))
    carol = logins.fresh("carol")
    created = api.create(carol, **rollback_plan(release, 1, "prod"))
    assert created.status_code == 201, created.text
    promo = created.json()
    name = promo["metadata"]["name"]
    step = step_of(promo, "prod")
    assert step["phase"] == "AwaitingApproval" and step["approvalsRequired"] == 1
    dave = logins.fresh("dave")
    stale = api.approve(dave, name, "prod", "read an older diff", OTHER)
    assert stale.status_code == 409
    assert stale.json() == {"reason": "Conflict", "message": "the diff changed since you read it"}
    assert step_of(api.get(carol, name).json(), "prod")["approvals"] == []
    good = api.approve(dave, name, "prod", "CAB-7 rollback ok", step["renderDigest"])
    assert good.status_code == 200, good.text
    after = step_of(good.json(), "prod")
    [approval] = after["approvals"]
    assert approval["diffDigest"] == step["renderDigest"]
    assert approval["justification"] == "CAB-7 rollback ok"
    assert after["phase"] != "AwaitingApproval"

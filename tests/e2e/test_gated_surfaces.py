"""What a gated environment shows outside a promotion (change.md §2, §7), over raw HTTP.

On a gated environment (the stack's prod: `requirePromotionFrom: staging`, one approval)
nobody holds a plain deploy credential: the refusal says `PromotionRequired`, only once
RBAC allowed the deploy (others get the plain Forbidden, which says nothing about gates).
The environments list tells each deployer which environments are gated. The v1 rollback
record route takes no break-glass any more and refuses gated environments: a gated
rollback is a one-step promotion (tests/e2e/promotions/test_gated_rollback.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins

pytestmark = pytest.mark.stack

GATE = (
    "prod issues deploy credentials only inside a promotion "
    "(requirePromotionFrom: staging, approvals: 1); use promote, or --break-glass"
)


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


def deploy(api: Api, token: str, env: str, why: str) -> Any:
    body = {"level": "deploy", "justification": why}
    return api.call("POST", f"/api/v1/environments/{env}/kubeconfig", token, body)


def test_a_plain_deploy_on_a_gated_environment_is_promotion_required(
    api: Api, logins: Logins
) -> None:
    why = f"t-gated {uuid.uuid4().hex[:8]}"
    carol = logins.fresh("carol")
    refused = deploy(api, carol, "prod", why)
    assert refused.status_code == 403
    # platform-admins may ask for a deploy request on prod (change.md §9, §13): the hint
    assert refused.json() == {
        "reason": "PromotionRequired",
        "message": GATE,
        "requestable": "deploy",
    }
    # ungated: a plain deploy credential, as before
    assert deploy(api, carol, "staging", why).status_code == 200
    # RBAC first: those who may not deploy there learn nothing about its gates
    for user in ("alice", "bob", "mallory"):
        denied = deploy(api, logins.token(user), "prod", why)
        assert denied.status_code == 403
        assert denied.json()["reason"] == "Forbidden", user


def test_the_environment_list_says_gated_to_those_who_may_deploy(api: Api, logins: Logins) -> None:
    def listed(user: str) -> dict[str, dict[str, Any]]:
        answer = api.call("GET", "/api/v1/environments", logins.token(user))
        assert answer.status_code == 200, answer.text
        return {item["id"]: item for item in answer.json()["items"]}

    carol = listed("carol")  # deploys everywhere
    assert [carol[e]["gated"] for e in ("dev", "staging", "prod")] == [False, False, True]
    alice = listed("alice")  # reads and deploys dev only
    assert alice["dev"]["gated"] is False
    bob = listed("bob")  # reads prod, deploys nowhere
    assert "gated" not in bob["prod"]
    dave = listed("dave")  # platform-admins deploy everywhere too
    assert dave["prod"]["gated"] is True


def test_the_v1_rollback_record_route_is_narrowed(api: Api, logins: Logins) -> None:
    release = f"t-gated-{uuid.uuid4().hex[:6]}"
    body = {"justification": "roll back", "fromRevision": 2, "toRevision": 1, "phase": "started"}
    prod = f"/api/v1/environments/prod/releases/shop/{release}/rollbacks"
    carol = logins.token("carol")
    gated = api.call("POST", prod, carol, body)
    assert gated.status_code == 403
    assert gated.json() == {"reason": "PromotionRequired", "message": GATE}
    # break-glass is no field of the record any more, for whoever holds the grant
    glass = api.call("POST", prod, logins.token("dave"), {**body, "breakGlass": True})
    assert glass.status_code == 400
    assert "rollbackTo and breakGlass" in glass.json()["message"]
    # ungated: the record route is as in v1 (a release it does not hold: 404)
    staging = f"/api/v1/environments/staging/releases/shop/{release}/rollbacks"
    assert api.call("POST", staging, carol, body).status_code == 404
    # RBAC first: mallory learns nothing about prod
    denied = api.call("POST", prod, logins.token("mallory"), body)
    assert (denied.status_code, denied.json()["reason"]) == (403, "Forbidden")

"""Gates against a client that skips steps: the chain's order at creation (prod only after
staging; a rollback is exempt), a plain prod deploy credential while prod requires a
promotion, break-glass (its own grant: release-managers on prod, not platform-admins) on a
credential and on a rollback promotion, and who may cancel a promotion."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import (
    Api,
    Archive,
    Helm,
    Logins,
    plan,
    rollback_plan,
    step_of,
    upgrade_args,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.stack


def test_prod_only_after_staging_and_a_rollback_is_exempt(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    carol = logins.fresh("carol")
    assert api.upload(carol, charts["1.2.0"], ["dev", "prod"]).status_code in (200, 201)
    skipped = api.create(carol, **plan(release, charts["1.2.0"], ["dev", "prod"]))
    assert skipped.status_code == 400
    assert skipped.json()["message"] == (
        "prod requires a promotion from staging (requirePromotionFrom): "
        "staging must come before prod in the chain"
    )
    # A rollback goes back to bytes prod ran already: no staging step.
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    back = api.create(carol, **rollback_plan(release, 1, "prod"))
    assert back.status_code == 201, back.text
    spec = back.json()["spec"]
    assert spec["rollbackTo"] == 1 and "chart" not in spec and "valuesDigests" not in spec
    assert step_of(back.json(), "prod")["approvalsRequired"] == 1
    missing = api.create(carol, **rollback_plan(f"{release}x", 7, "prod"))
    assert missing.status_code == 404
    assert missing.json()["message"] == f"release shop/{release}x has no revision 7 on prod"


def test_a_break_glass_rollback_needs_its_grant_and_no_approval(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    admin("prod", *upgrade_args(release, charts["1.2.0"]))
    body = rollback_plan(release, 1, "prod", breakGlass=True)
    refused = api.create(logins.fresh("carol"), **body)  # deploys to prod, no break-glass
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "oidc:carol@example.test may not break the glass on environment prod"
    )
    glass = api.create(logins.fresh("dave"), **body)
    assert glass.status_code == 201, glass.text
    promo = glass.json()
    assert promo["spec"]["breakGlass"] is True
    step = step_of(promo, "prod")
    assert step["approvalsRequired"] == 0 and step["phase"] != "AwaitingApproval"
    # break-glass is for rollbacks only
    chart = plan(release, charts["1.2.0"], ["staging", "prod"], breakGlass=True)
    assert api.create(logins.token("dave"), **chart).status_code == 400


def test_who_may_cancel(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    """The initiator, whoever may deploy to every environment of the chain, or `update`
    on promotions/cancel; others get 403 and write nothing. The first request stands."""
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    dave = logins.fresh("dave")
    created = api.create(dave, **rollback_plan(release, 1, "prod"))
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    mallory = api.cancel(logins.token("mallory"), name, "stop")  # reads no promotions
    assert mallory.status_code == 403 and "cannot get resource" in mallory.json()["message"]
    for user in ("alice", "bob"):  # read promotions, may not deploy to prod
        refused = api.cancel(logins.token(user), name, "stop")
        assert refused.status_code == 403, user
        assert refused.json()["message"] == (
            f"oidc:{user}@example.test may not cancel promotion {name}"
        )
    assert "cancelRequest" not in api.get(dave, name).json()["status"]
    assert api.cancel(logins.token("carol"), name, "").status_code == 400
    carol = api.cancel(logins.fresh("carol"), name, "wrong revision")  # deploys to prod
    assert carol.status_code == 200, carol.text
    request = carol.json()["status"]["cancelRequest"]
    assert request["user"] == "oidc:carol@example.test"
    assert request["justification"] == "wrong revision"
    assert request["reason"] == "cancelled by oidc:carol@example.test"
    # The initiator may too; the first request stands (200 while the executor has not
    # ended the promotion yet, 409 once it is Cancelled: nothing left to cancel).
    again = api.cancel(dave, name, "me too")
    assert again.status_code in (200, 409), again.text
    if again.status_code == 409:
        assert again.json()["message"] == f"promotion {name} is Cancelled"
    assert api.get(dave, name).json()["status"]["cancelRequest"] == request
    assert api.cancel(dave, "no-such-promotion-x", "stop").status_code == 404


def _kubeconfig(api: Api, token: str, env: str, **body: object) -> object:
    return api.call("POST", f"/api/v1/environments/{env}/kubeconfig", token, body)


def test_plain_prod_deploy_is_refused_and_break_glass_leaves_a_warning(
    stack: Stack, api: Api, logins: Logins
) -> None:
    carol = logins.fresh("carol")
    why = f"INC-{uuid.uuid4().hex[:8]} prod down, hotfix"
    plain = api.call(
        "POST",
        "/api/v1/environments/prod/kubeconfig",
        carol,
        {"level": "deploy", "justification": why},
    )
    assert plain.status_code == 403
    assert plain.json()["message"] == (
        "prod issues deploy credentials only inside a promotion "
        "(requirePromotionFrom: staging, approvals: 1); use promote, or --break-glass"
    )
    # staging has no gate: a plain deploy credential as before
    ok = api.call(
        "POST", "/api/v1/environments/staging/kubeconfig", carol,
        {"level": "deploy", "justification": why},
    )  # fmt: skip
    assert ok.status_code == 200
    # break-glass on a read is refused before anything else
    bad = api.call("POST", "/api/v1/environments/prod/kubeconfig", carol, {"breakGlass": True})
    assert bad.status_code == 400
    # break-glass still needs RBAC: alice may not deploy to prod at all
    alice = logins.fresh("alice")
    denied = api.call(
        "POST", "/api/v1/environments/prod/kubeconfig", alice,
        {"level": "deploy", "justification": why, "breakGlass": True},
    )  # fmt: skip
    assert denied.status_code == 403
    # carol deploys everywhere, but break-glass is a grant of its own (release-managers)
    refused = api.call(
        "POST", "/api/v1/environments/prod/kubeconfig", carol,
        {"level": "deploy", "justification": why, "breakGlass": True},
    )  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "oidc:carol@example.test may not break the glass on environment prod"
    )
    glass = api.call(
        "POST", "/api/v1/environments/prod/kubeconfig", logins.fresh("dave"),
        {"level": "deploy", "justification": why, "breakGlass": True},
    )  # fmt: skip
    assert glass.status_code == 200, glass.text
    assert glass.json()["level"] == "deploy"

    def warnings() -> list[dict[str, object]]:
        out = stack.kubectl(
            "mgmt", "get", "events", "-n", "default",
            "--field-selector=involvedObject.name=prod,reason=BreakGlass", "-o", "json",
        )  # fmt: skip
        return [e for e in json.loads(out.stdout)["items"] if why in e["message"]]

    wait_for("the BreakGlass Event", warnings, 30)
    [event] = warnings()
    assert event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "Environment"  # type: ignore[index]
    assert "oidc:dave@example.test broke the promotion gate of prod" in str(event["message"])


def test_rollback_record_on_a_gated_environment_is_refused(
    stack: Stack, api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    """Version 2 (change.md §7): on a gated environment a rollback is a one-step promotion;
    the v1 record route refuses it (403 PromotionRequired), break-glass or not (400)."""
    helm.run(stack.kubeconfig("prod"), *upgrade_args(release, charts["1.1.0"]))
    path = f"/api/v1/environments/prod/releases/shop/{release}/rollbacks"
    body = {"justification": f"roll back {release}", "fromRevision": 2, "toRevision": 1}
    plain = api.call("POST", path, logins.token("carol"), {**body, "phase": "started"})
    assert plain.status_code == 403
    assert plain.json()["reason"] == "PromotionRequired"
    glass = {**body, "phase": "started", "breakGlass": True}
    assert api.call("POST", path, logins.token("dave"), glass).status_code == 400

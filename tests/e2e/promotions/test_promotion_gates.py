"""Gates against a client that skips steps: a stale verification, a plain prod deploy
credential while prod requires a promotion, break-glass (its own grant: release-managers on
prod, not platform-admins) and its Warning Event."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Driver, Helm, Logins, plan, step_of, upgrade_args
from tests.helpers import wait_for

pytestmark = pytest.mark.stack


def test_stale_verification_fails_the_promotion(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    driver: Driver,
    charts: dict[str, Path],
    release: str,
) -> None:
    dev = stack.kubeconfig("dev")
    helm.run(dev, *upgrade_args(release, charts["1.1.0"]))  # revision 1: 1.1.0
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging"])).json()[
        "metadata"
    ]["name"]
    promo = driver.run_step(carol, name, "dev", release, chart)
    assert step_of(promo, "dev")["phase"] == "Succeeded"
    # behind the promotion's back, dev's admin rolls the release back to 1.1.0 (revision 3)
    helm.run(dev, "rollback", release, "1", "-n", "shop", "--wait")
    refused = api.step(carol, name, "staging", "kubeconfig")
    assert refused.status_code == 403
    message = refused.json()["message"]
    assert message == (
        "dev no longer verified: release is on revision 3 with chart 1.1.0 "
        f"(promotion {name} is now Failed)"
    )
    promo = api.get(carol, name).json()
    assert promo["status"]["phase"] == "Failed"
    assert "release is on revision 3 with chart 1.1.0" in promo["status"]["message"]
    assert step_of(promo, "staging")["phase"] == "Pending"
    # a Failed promotion issues nothing more
    assert api.step(carol, name, "staging", "kubeconfig").status_code == 409


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

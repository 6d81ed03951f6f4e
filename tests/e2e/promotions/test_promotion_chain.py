"""A promotion through dev, staging and prod on the real stack: the real Helm 4 run with
the step credentials the backend issues, dave's approval for prod, and the full record.
Reading promotions is RBAC on `promotions`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scipian_backend.releases import records
from scipian_backend.releases.identity import chart_identity
from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.promotions.world import Api, Driver, Helm, Logins, plan, step_of, upgrade_args
from tests.helpers import wait_for
from tests.prometheus_text import sample

pytestmark = pytest.mark.stack


def record_chart(stack: Stack, env: str, release: str, revision: int) -> dict[str, object]:
    """The chart object of a release record, decoded as Helm stores it (admin's read)."""
    out = stack.kubectl(
        env, "get", "secret", "-n", "shop", f"sh.helm.release.v1.{release}.v{revision}",
        "-o", "json",
    )  # fmt: skip
    obj = json.loads(out.stdout)
    doc = records.decode(records.record_of(obj, "secret"))
    return dict(doc["chart"])


def test_happy_path_dev_staging_prod(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    driver: Driver,
    charts: dict[str, Path],
    release: str,
) -> None:
    chart = charts["1.2.0"]
    # prod already runs 1.1.0 (installed by its admin): the promotion upgrades it.
    helm.run(stack.kubeconfig("prod"), *upgrade_args(release, charts["1.1.0"]))
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    succeeded = {"name": "scipian_promotions_total", "outcome": "Succeeded"}
    before = sample(api.call("GET", "/metrics", None).text, **succeeded)
    created = api.create(
        carol, **plan(release, identity, "1.2.0", ["dev", "staging", "prod"], soakSeconds=2)
    )
    assert created.status_code == 201, created.text
    promo = created.json()
    name = promo["metadata"]["name"]
    assert name.startswith(release + "-") and len(name) == len(release) + 6
    assert [s["phase"] for s in promo["status"]["steps"]] == ["Pending"] * 3
    assert promo["status"]["phase"] == "Running"

    promo = driver.run_step(carol, name, "dev", release, chart)
    assert step_of(promo, "dev")["phase"] == "Succeeded", promo["status"]
    promo = driver.run_step(carol, name, "staging", release, chart)
    assert step_of(promo, "staging")["phase"] == "Succeeded", promo["status"]
    # prod waits for an approval: the backend says so, and the step shows it
    refused = api.step(carol, name, "prod", "kubeconfig")
    assert refused.status_code == 403
    assert refused.json()["message"] == "prod needs 1 approval, has 0"
    waiting = api.get(carol, name).json()
    assert step_of(waiting, "prod")["phase"] == "AwaitingApproval"
    assert waiting["status"]["phase"] == "AwaitingApproval"
    dave = logins.fresh("dave")
    approved = api.approve(dave, name, "prod", "CAB approved CHG-42")
    assert approved.status_code == 200, approved.text
    assert step_of(approved.json(), "prod")["phase"] == "Pending"
    promo = driver.run_step(carol, name, "prod", release, chart)

    # the record: who, what, where, when, why, approved by whom
    assert promo["status"]["phase"] == "Succeeded", promo["status"]
    spec = promo["spec"]
    assert spec["initiator"]["user"] == "oidc:carol@example.test"
    assert "oidc:platform-admins" in spec["initiator"]["groups"]
    assert spec["justification"] == f"promote {release} 1.2.0 (test)"
    assert spec["chart"] == {"name": "shop-web", "version": "1.2.0", "identity": identity}
    assert spec["soakSeconds"] == 2 and spec["through"] == ["dev", "staging", "prod"]
    [approval] = step_of(promo, "prod")["approvals"]
    assert approval["user"] == "oidc:dave@example.test"
    assert approval["justification"] == "CAB approved CHG-42" and approval["time"]
    expected = {"dev": (1, None), "staging": (1, None), "prod": (2, 1)}
    for env, (revision, previous) in expected.items():
        step = step_of(promo, env)
        assert step["phase"] == "Succeeded"
        assert step["startedAt"] <= step["verifiedAt"] <= step["finishedAt"]
        assert (step["revision"], step["previousRevision"]) == (revision, previous)
        # what the real helm says, and the identity of what is stored
        newest = history(helm, stack.kubeconfig(env), release)[-1]
        assert (newest["revision"], newest["status"], newest["chart"]) == (
            revision,
            "deployed",
            "shop-web-1.2.0",
        )
        assert chart_identity(record_chart(stack, env, release, revision)) == identity

    # every phase change left an Event on the Promotion
    def events() -> list[str]:
        out = stack.kubectl(
            "mgmt", "get", "events", "-n", "default",
            f"--field-selector=involvedObject.name={name}", "-o", "json",
        )  # fmt: skip
        return [e["reason"] for e in json.loads(out.stdout)["items"]]

    after = sample(api.call("GET", "/metrics", None).text, **succeeded)
    assert after >= before + 1  # other tests' promotions may end meanwhile; ours has its Event
    wait_for("the PromotionSucceeded Event", lambda: "PromotionSucceeded" in events(), 30)
    reasons = events()
    for reason in ("StepDeploying", "StepVerifying", "StepSucceeded", "StepAwaitingApproval"):
        assert reason in reasons
    # the lock is free again: a new promotion of the release may start
    again = api.create(carol, **plan(release, identity, "1.2.0", ["dev"]))
    assert again.status_code == 201, again.text


def test_prod_credential_before_staging_is_verified_is_refused(
    api: Api, logins: Logins, helm: Helm, driver: Driver, charts: dict[str, Path], release: str
) -> None:
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    # a long soak keeps staging in Verifying: its checks hold, but it is not yet Succeeded
    body = plan(release, identity, "1.2.0", ["dev", "staging", "prod"], soakSeconds=3600)
    name = api.create(carol, **body).json()["metadata"]["name"]
    early = api.step(carol, name, "prod", "kubeconfig")
    assert early.status_code == 403
    assert "needs dev Succeeded first" in early.json()["message"]
    got = api.step(carol, name, "dev", "kubeconfig")
    assert got.status_code == 200
    assert got.json()["promotion"] == name and got.json()["level"] == "deploy"
    # skipping ahead while dev is Deploying: still refused, and staging too
    assert api.step(carol, name, "staging", "kubeconfig").status_code == 403
    from tests.e2e.promotions.world import write_kubeconfig

    kubeconfig = write_kubeconfig(driver.workdir, got.json())
    helm.run(kubeconfig, *upgrade_args(release, chart))
    verifying = api.step(carol, name, "dev", "report", {"helmExitCode": 0})
    assert verifying.status_code == 200
    promo = api.step(carol, name, "dev", "verify").json()
    assert step_of(promo, "dev")["phase"] == "Verifying"
    assert step_of(promo, "dev")["verifiedAt"]  # the checks hold; the soak runs
    refused = api.step(carol, name, "staging", "kubeconfig")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f"step staging of promotion {name} needs dev Succeeded first (it is Verifying)"
    )
    # nothing went to staging or prod
    assert step_of(api.get(carol, name).json(), "prod")["phase"] == "Pending"


def test_reading_promotions_is_rbac_on_promotions(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    carol = logins.token("carol")
    created = api.create(carol, **plan(release, identity, "1.2.0", ["dev"]))
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    alice = logins.token("alice")  # team-a: reads promotions
    listed = api.call("GET", "/api/v1/promotions", alice)
    assert listed.status_code == 200
    doc = listed.json()
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    assert name in [i["metadata"]["name"] for i in doc["items"]]
    assert api.get(alice, name).json()["spec"]["release"] == release
    mallory = logins.token("mallory")
    denied = api.get(mallory, name)
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        f'promotions.scipian.io "{name}" is forbidden: User "oidc:mallory@example.test" '
        'cannot get resource "promotions" in API group "scipian.io" at the cluster scope'
    )
    assert api.call("GET", "/api/v1/promotions", mallory).status_code == 403
    missing = api.get(alice, "no-such-promotion")
    assert missing.status_code == 404
    assert missing.json()["message"] == 'promotions.scipian.io "no-such-promotion" not found'
    # only the initiator runs the steps, even for a user who may deploy there
    dave = logins.token("dave")
    other = api.step(dave, name, "dev", "kubeconfig")
    assert other.status_code == 403
    assert "oidc:carol@example.test" in other.json()["message"]

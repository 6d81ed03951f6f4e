"""A promotion through dev, staging and prod on the real stack, executed by the backend:
carol uploads and creates, the backend runs helm on each step with a credential of its
own, verifies helm's own output and soaks; prod waits for dave's approval bound to the
step's render digest. Nobody but the backend holds a deploy credential on the way."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from scipian_backend.promotions.step_identity import account
from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.promotions.world import (
    Api,
    Archive,
    Flow,
    Helm,
    Logins,
    step_of,
    upgrade_args,
    values_file,
)
from tests.helpers import wait_for
from tests.prometheus_text import sample
from tests.stack import envfile
from tests.stack.backend_daemon import process_urls

pytestmark = pytest.mark.stack

SESSIONS = "scipian-sessions"


def identity_objects(stack: Stack, env: str, promotion: str) -> list[str]:
    """The step identity's ServiceAccount and bindings on a target, as its admin sees them."""
    name = account(promotion, env)
    found = []
    sa = stack.kubectl(env, "get", "sa", "-n", SESSIONS, name, "-o", "name", check=False)
    if sa.returncode == 0:
        found.append(sa.stdout.strip())
    for kind in ("rolebindings", "clusterrolebindings"):
        out = stack.kubectl(
            env, "get", kind, "-A", "-l", f"scipian.io/identity={name}", "-o", "json"
        )
        found += [f"{kind}/{i['metadata']['name']}" for i in json.loads(out.stdout)["items"]]
    return found


def succeeded_total(stack: Stack) -> float:
    """Succeeded promotions counted by the stack's replicas (each provider's backend runs a
    worker room; the one that finishes a promotion counts it)."""
    total = 0.0
    for url in process_urls({**stack.env, **envfile.read()}):
        try:
            text = requests.get(url + "/metrics", timeout=10).text
        except requests.RequestException:
            continue  # a provider's backend started on demand and stopped since
        total += sample(text, "scipian_promotions_total", outcome="Succeeded")
    return total


def test_dev_staging_prod_with_soak_and_approval(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
) -> None:
    chart = charts["1.2.0"]
    # prod already runs 1.1.0 (installed by its admin): the promotion upgrades it.
    helm.run(stack.kubeconfig("prod"), *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    before = succeeded_total(stack)
    values = {"*": [values_file("common.yaml", "replicas: 1\n")]}
    promo = flow.start(
        carol, release, chart, ["dev", "staging", "prod"], soakSeconds=2, values=values
    )
    name = promo["metadata"]["name"]
    assert "scipian.io/executor" in promo["metadata"]["finalizers"]

    promo = flow.awaiting(carol, promo, "prod")
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval", promo["status"]
    assert promo["status"]["phase"] == "AwaitingApproval"
    assert step_of(promo, "prod")["awaitingSince"]
    # the backend ran dev and staging, each verified and soaked before the next started
    for env in ("dev", "staging"):
        step = step_of(promo, env)
        assert step["phase"] == "Succeeded", promo["status"]
        assert step["executedBy"] and step["revision"] == 1
        assert step["previousRevision"] is None
        assert step["manifestDigest"].startswith("sha256:")
        assert step["configDigest"].startswith("sha256:")
        assert step["startedAt"] <= step["verifiedAt"] <= step["finishedAt"]
        assert identity_objects(stack, env, name) == []  # gone when it left Deploying
    assert step_of(promo, "dev")["finishedAt"] <= step_of(promo, "staging")["startedAt"]
    # nothing touched prod before its approval
    assert [h["revision"] for h in history(helm, stack.kubeconfig("prod"), release)] == [1]

    dave = logins.fresh("dave")
    digest = step_of(promo, "prod")["renderDigest"]
    approved = api.approve(dave, name, "prod", "CAB approved CHG-42", digest)
    assert approved.status_code == 200, approved.text
    promo = flow.finished(carol, approved.json())

    # the record: who, what, where, when, why, approved by whom, executed by which replica
    assert promo["status"]["phase"] == "Succeeded", promo["status"]
    spec = promo["spec"]
    assert spec["initiator"]["user"] == "oidc:carol@example.test"
    assert spec["chart"] == chart.ref()
    assert promo["status"]["executedBy"]
    [approval] = step_of(promo, "prod")["approvals"]
    assert approval["user"] == "oidc:dave@example.test" and approval["diffDigest"] == digest
    expected = {"dev": (1, None), "staging": (1, None), "prod": (2, 1)}
    for env, (revision, previous) in expected.items():
        step = step_of(promo, env)
        assert step["phase"] == "Succeeded" and step["message"] == ""
        assert (step["revision"], step["previousRevision"]) == (revision, previous)
        newest = history(helm, stack.kubeconfig(env), release)[-1]
        assert (newest["revision"], newest["status"], newest["chart"]) == (
            revision,
            "deployed",
            "shop-web-1.2.0",
        )
        assert identity_objects(stack, env, name) == []

    # finished: the finalizer is gone, the pinned values too, the lock is free
    def finished_clean() -> bool:
        obj = json.loads(
            stack.kubectl("mgmt", "get", "promotion.scipian.io", name, "-o", "json").stdout
        )
        return "scipian.io/executor" not in (obj["metadata"].get("finalizers") or [])

    wait_for("the executor's finalizer removed", finished_clean, 30)
    values_secret = stack.kubectl(
        "mgmt", "get", "secret", "-n", "scipian-artifacts", f"values-{name}", check=False
    )
    assert values_secret.returncode != 0 and "NotFound" in values_secret.stderr

    # every phase change left an Event on the Promotion
    def events() -> list[str]:
        out = stack.kubectl(
            "mgmt", "get", "events", "-n", "default",
            f"--field-selector=involvedObject.name={name}", "-o", "json",
        )  # fmt: skip
        return [e["reason"] for e in json.loads(out.stdout)["items"]]

    wait_for("the PromotionSucceeded Event", lambda: "PromotionSucceeded" in events(), 30)
    reasons = events()
    for reason in ("StepDeploying", "StepVerifying", "StepSucceeded", "StepAwaitingApproval"):
        assert reason in reasons
    after = succeeded_total(stack)
    assert after >= before + 1  # other tests' promotions may end meanwhile; ours counted
    again = flow.start(carol, release, chart, ["dev"])
    assert again["status"]["phase"] in ("Running", "Succeeded")


def test_reading_promotions_is_rbac_on_promotions(
    api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    carol = logins.token("carol")
    promo: dict[str, Any] = flow.start(carol, release, charts["1.2.0"], ["dev"])
    name = promo["metadata"]["name"]
    alice = logins.token("alice")  # team-a: reads promotions
    listed = api.call("GET", "/api/v1/promotions", alice)
    assert listed.status_code == 200
    assert name in [i["metadata"]["name"] for i in listed.json()["items"]]
    assert api.get(alice, name).json()["spec"]["release"] == release
    mallory = logins.token("mallory")
    denied = api.get(mallory, name)
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        f'promotions.scipian.io "{name}" is forbidden: User "oidc:mallory@example.test" '
        'cannot get resource "promotions" in API group "scipian.io" at the cluster scope'
    )
    flow.finished(carol, promo)

"""Every waiting state has a deadline (change.md §5, promotions/deadlines.py), each ending
the promotion `Failed` with the reason `timeout`:

- AwaitingApproval after `--promotion-approval-seconds` (72 h: the wait is dated back by
  mgmt's admin, so that every replica finds it over, and no backend with a shorter limit
  ends other tests' approval waits);
- Deploying at the step's `timeoutSeconds` (a workload that never becomes ready), the
  environment back where the step found it;
- a Pending promotion with no transition for twice its timeout (what a fleet that was down
  leaves behind, written as such by mgmt's admin): ended, never run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from scipian_backend.promotions.records import now_stamp
from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.promotions.test_promotion_cancel import stuck  # noqa: F401  (a fixture)
from tests.e2e.promotions.test_promotion_chain import identity_objects
from tests.e2e.promotions.world import (
    NAMESPACE,
    Api,
    Archive,
    Flow,
    Helm,
    Logins,
    step_of,
    upgrade_args,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.stack


def test_awaiting_approval_ends_at_its_deadline(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
) -> None:
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, charts["1.2.0"], ["staging", "prod"])
    promo = flow.awaiting(carol, promo, "prod")
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval", promo["status"]
    # prod has waited 72 h and a second (mgmt's admin dates the wait back; every replica,
    # at the default --promotion-approval-seconds, now finds it over)
    since = now_stamp(datetime.now(timezone.utc) - timedelta(seconds=259_201))
    patch = [{"op": "replace", "path": "/status/steps/1/awaitingSince", "value": since}]
    stack.kubectl(
        "mgmt", "patch", "promotion.scipian.io", promo["metadata"]["name"],
        "--subresource=status", "--type=json", "-p", json.dumps(patch),
    )  # fmt: skip
    promo = flow.finished(carol, promo, bound=60)
    step = step_of(promo, "prod")
    assert (step["phase"], step["message"]) == ("Failed", "timeout"), promo["status"]
    assert promo["status"]["phase"] == "Failed"
    assert promo["status"]["message"] == "prod: timeout"
    assert step_of(promo, "staging")["phase"] == "Succeeded"
    assert history(helm, stack.kubeconfig("prod"), release) == []


def test_deploying_ends_at_the_steps_timeout(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    stuck: Archive,  # noqa: F811
    release: str,
) -> None:
    dev = stack.kubeconfig("dev")
    helm.run(dev, *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, stuck, ["dev"], timeoutSeconds=30)
    name = promo["metadata"]["name"]
    promo = flow.finished(carol, promo, bound=120)
    step = step_of(promo, "dev")
    assert (step["phase"], step["message"]) == ("Failed", "timeout"), promo["status"]
    newest = history(helm, dev, release)[-1]
    assert (newest["status"], newest["chart"]) == ("deployed", "shop-web-1.1.0")
    assert identity_objects(stack, "dev", name) == []


def test_an_idle_pending_promotion_ends_without_running(
    stack: Stack, api: Api, logins: Logins, helm: Helm, release: str
) -> None:
    name = f"{release}-idle1"
    long_ago = now_stamp(datetime.now(timezone.utc) - timedelta(hours=1))
    digest = "sha256:" + "0" * 64
    promo = {
        "apiVersion": "scipian.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {"name": name, "finalizers": ["scipian.io/executor"]},
        "spec": {
            "release": release,
            "namespace": NAMESPACE,
            "chart": {"digest": digest, "name": "shop-web", "version": "1.2.0"},
            "through": ["dev"],
            "valuesDigests": {"dev": digest},
            "soakSeconds": 0,
            "timeoutSeconds": 30,
            "initiator": {"user": "oidc:carol@example.test", "groups": ["oidc:platform-admins"]},
            "justification": "left Pending by a fleet that was down (test)",
        },
    }
    stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(promo))
    status = {
        "status": {
            "phase": "Running",
            "message": "",
            "lastTransition": long_ago,
            "steps": [
                {
                    "environment": "dev",
                    "phase": "Pending",
                    "approvalsRequired": 0,
                    "approvals": [],
                    "message": "",
                    "renderDigest": digest,
                }
            ],
        }
    }
    stack.kubectl(
        "mgmt", "patch", "promotion.scipian.io", name, "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip

    def read() -> dict[str, Any]:
        out = stack.kubectl("mgmt", "get", "promotion.scipian.io", name, "-o", "json")
        return dict(json.loads(out.stdout))

    wait_for("the idle promotion ended", lambda: read()["status"]["phase"] == "Failed", 60)
    done = read()
    assert done["status"]["message"] == "dev: timeout"
    assert done["status"]["steps"][0]["message"] == "timeout"
    assert "scipian.io/executor" not in (done["metadata"].get("finalizers") or [])
    assert history(helm, stack.kubeconfig("dev"), release) == []
    carol = logins.token("carol")
    assert api.get(carol, name).json()["status"]["phase"] == "Failed"

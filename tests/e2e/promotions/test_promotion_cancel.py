"""Cancel during Deploying (change.md §5): the executor's helm gets SIGTERM, the release
goes back to the step's previousRevision, step and promotion end `Cancelled` with `cancelled
by USER`, and the step's own identity (a ServiceAccount bound in the promotion's namespace
only) is gone. While helm runs, that identity is the only deploy credential involved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.conftest import chart_copy, history
from tests.e2e.promotions.test_promotion_chain import identity_objects
from tests.e2e.promotions.world import Archive, Flow, Helm, Logins, step_of, upgrade_args
from tests.helpers import wait_for

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stuck(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """shop-web 1.4.0 whose pods select a node label no node has: helm waits (--wait)."""
    out = tmp_path_factory.mktemp("promo-stuck")

    def unschedulable(chart: Path) -> None:
        path = chart / "values.yaml"
        text = path.read_text().replace("  type: kwok\n", "  type: nowhere\n")
        assert "type: nowhere" in text
        path.write_text(text)

    return helm.package("1.4.0", out, chart_copy(out, "stuck", unschedulable))


def test_cancel_during_deploying_rolls_back_and_ends_cancelled(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    stuck: Archive,
    release: str,
) -> None:
    dev = stack.kubeconfig("dev")
    helm.run(dev, *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, stuck, ["dev"], timeoutSeconds=600)
    name = promo["metadata"]["name"]
    promo = flow.until(carol, promo, lambda p: step_of(p, "dev")["phase"] == "Deploying")
    wait_for(
        "helm's upgrade under way (pending-upgrade)",
        lambda: history(helm, dev, release)[-1]["status"] == "pending-upgrade",
        60,
    )
    # the step's identity: a ServiceAccount of its own, bound in the promotion's namespace
    # only (a RoleBinding in `shop`, no ClusterRoleBinding)
    objects = identity_objects(stack, "dev", name)
    assert objects[0].startswith("serviceaccount/"), objects
    bindings = objects[1:]
    assert bindings and all(b.startswith("rolebindings/") for b in bindings), objects
    out = stack.kubectl(
        "dev", "get", "rolebindings", "-A", "-l",
        f"scipian.io/identity={objects[0].split('/', 1)[1]}", "-o", "json",
    )  # fmt: skip
    assert {i["metadata"]["namespace"] for i in json.loads(out.stdout)["items"]} == {"shop"}

    cancelled = flow.api.cancel(carol, name, "wrong chart, stop it")
    assert cancelled.status_code == 200, cancelled.text
    promo = flow.finished(carol, cancelled.json(), bound=120)
    step = step_of(promo, "dev")
    assert promo["status"]["phase"] == "Cancelled", promo["status"]
    assert promo["status"]["message"] == "cancelled by oidc:carol@example.test"
    assert (step["phase"], step["message"]) == ("Cancelled", "cancelled by oidc:carol@example.test")
    # back where the step found it: revision 1's chart deployed, nothing pending
    newest = history(helm, dev, release)[-1]
    assert (newest["status"], newest["chart"]) == ("deployed", "shop-web-1.1.0")
    assert identity_objects(stack, "dev", name) == []
    # the release's lock is free again
    again = flow.start(carol, release, charts["1.2.0"], ["dev"])
    assert again["metadata"]["name"] != name

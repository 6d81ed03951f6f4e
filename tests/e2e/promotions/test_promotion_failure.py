"""Failure stops the chain, and the environment that failed is put back where the step
found it: by helm's own --rollback-on-failure when helm fails (a smoke Job failing through
the stack's KWOK fail annotation), by the executor's `helm rollback` when verification
fails during the soak (the workload changed behind the release). The promotion shows the
classified reason only, never helm's own words."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.promotions.world import Archive, Flow, Helm, Logins, step_of, upgrade_args

pytestmark = pytest.mark.stack


def revisions(helm: Helm, stack: Stack, env: str, release: str) -> list[tuple[object, ...]]:
    return [
        (h["revision"], h["status"], h["chart"])
        for h in history(helm, stack.kubeconfig(env), release)
    ]


def test_staging_failing_workload_rolls_staging_back_and_stops_the_chain(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
) -> None:
    helm.run(stack.kubeconfig("staging"), *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    # staging's own set makes the smoke Job fail there (the same chart everywhere)
    promo = flow.start(
        carol, release, charts["1.2.0"], ["dev", "staging", "prod"],
        set={"staging": ["failWith=3"]},
    )  # fmt: skip
    promo = flow.finished(carol, promo)
    assert promo["status"]["phase"] == "Failed", promo["status"]
    assert step_of(promo, "dev")["phase"] == "Succeeded"
    staging = step_of(promo, "staging")
    assert (staging["phase"], staging["message"]) == ("Failed", "rolled back")
    assert promo["status"]["message"] == "staging: rolled back"
    assert staging["previousRevision"] == 1
    # what the real helm says: the failed revision 2, then its rollback to 1 (revision 3);
    # the executor found the release back where the step found it and added nothing
    assert revisions(helm, stack, "staging", release) == [
        (1, "superseded", "shop-web-1.1.0"),
        (2, "failed", "shop-web-1.2.0"),
        (3, "deployed", "shop-web-1.1.0"),
    ]
    # the chain stopped: prod untouched, its step still Pending
    assert history(helm, stack.kubeconfig("prod"), release) == []
    assert step_of(promo, "prod")["phase"] == "Pending"


def test_a_failed_verification_during_the_soak_is_rolled_back_by_the_executor(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
) -> None:
    helm.run(stack.kubeconfig("dev"), *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    # a long soak: the change below is caught by a 2 s re-check, not by waiting it out
    promo = flow.start(carol, release, charts["1.2.0"], ["dev", "staging"], soakSeconds=600)
    promo = flow.until(
        carol,
        promo,
        lambda p: step_of(p, "dev")["phase"] == "Verifying" and "verifiedAt" in step_of(p, "dev"),
    )
    assert step_of(promo, "dev")["revision"] == 2
    # the target's admin changes what runs behind the release during the soak
    stack.kubectl(
        "dev", "-n", "shop", "set", "image", f"deployment/{release}",
        "web=registry.example/not-approved:6.6.6",
    )  # fmt: skip
    promo = flow.finished(carol, promo)
    dev = step_of(promo, "dev")
    assert dev["phase"] == "Failed", promo["status"]
    assert dev["message"].startswith("verification: "), dev["message"]
    assert promo["status"]["message"] == f"dev: {dev['message']}"
    assert step_of(promo, "staging")["phase"] == "Pending"
    # the executor rolled dev back to the revision the step found (a rollback revision)
    newest = history(helm, stack.kubeconfig("dev"), release)[-1]
    assert (newest["revision"], newest["status"], newest["chart"]) == (
        3,
        "deployed",
        "shop-web-1.1.0",
    )
    assert newest["description"] == "Rollback to 1"
    assert history(helm, stack.kubeconfig("staging"), release) == []


def test_a_broken_chart_version_fails_in_its_first_environment(
    stack: Stack,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
) -> None:
    helm.run(stack.kubeconfig("dev"), *upgrade_args(release, charts["1.1.0"]))
    carol = logins.fresh("carol")
    promo = flow.finished(carol, flow.start(carol, release, charts["1.9.0"], ["dev", "staging"]))
    dev = step_of(promo, "dev")
    assert (dev["phase"], dev["message"]) == ("Failed", "rolled back"), promo["status"]
    assert step_of(promo, "staging")["phase"] == "Pending"
    assert history(helm, stack.kubeconfig("dev"), release)[-1]["chart"] == "shop-web-1.1.0"

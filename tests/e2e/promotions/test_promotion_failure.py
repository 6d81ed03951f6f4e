"""Failure stops the chain: a chart version whose workload fails (its smoke Job fails
through the stack's KWOK fail annotation) leaves the environment on its previous revision,
as the real helm reports, the promotion Failed with the reason, later steps untouched. A
client that reports success anyway is caught by the backend's own verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.promotions.world import (
    Api,
    Driver,
    Helm,
    Logins,
    plan,
    step_of,
    upgrade_args,
    write_kubeconfig,
)

pytestmark = pytest.mark.stack


def test_a_failing_workload_stops_the_chain_on_the_previous_revision(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    driver: Driver,
    charts: dict[str, Path],
    release: str,
) -> None:
    staging = stack.kubeconfig("staging")
    helm.run(staging, *upgrade_args(release, charts["1.1.0"]))  # staging: revision 1, 1.1.0
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    body = plan(release, identity, "1.2.0", ["dev", "staging", "prod"])
    name = api.create(carol, **body).json()["metadata"]["name"]
    promo = driver.run_step(carol, name, "dev", release, chart)
    assert step_of(promo, "dev")["phase"] == "Succeeded"
    # staging's values make the workload fail (the same chart: its identity is unchanged)
    promo = driver.run_step(carol, name, "staging", release, chart, "--set", "failWith=3")
    step = step_of(promo, "staging")
    assert step["phase"] == "Failed", promo["status"]
    assert step["message"].startswith("helm: ")
    assert promo["status"]["phase"] == "Failed"
    assert promo["status"]["message"].startswith("staging: helm: ")
    # what the real helm says: the failed revision 2, then the rollback to 1 (revision 3)
    revisions = history(helm, staging, release)
    assert [(h["revision"], h["status"], h["chart"]) for h in revisions] == [
        (1, "superseded", "shop-web-1.1.0"),
        (2, "failed", "shop-web-1.2.0"),
        (3, "deployed", "shop-web-1.1.0"),
    ]
    assert (step["previousRevision"], step["revision"]) == (1, 3)
    # prod is untouched: no release there, its step Pending, no credential for it
    assert history(helm, stack.kubeconfig("prod"), release) == []
    assert step_of(promo, "prod")["phase"] == "Pending"
    assert api.step(carol, name, "prod", "kubeconfig").status_code == 409
    # a fixed chart goes out as a new promotion, not as a resume
    resumed = api.resume(carol, name, identity)
    assert resumed.status_code == 409
    assert "a fixed chart goes out as a new promotion" in resumed.json()["message"]
    fixed = api.create(carol, **body)
    assert fixed.status_code == 201, fixed.text


def test_a_broken_chart_version_fails_in_its_first_environment(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    driver: Driver,
    charts: dict[str, Path],
    release: str,
) -> None:
    dev = stack.kubeconfig("dev")
    helm.run(dev, *upgrade_args(release, charts["1.1.0"]))
    broken = charts["1.9.0"]
    identity = helm.identity(release, broken)
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.9.0", ["dev", "staging"])).json()[
        "metadata"
    ]["name"]
    promo = driver.run_step(carol, name, "dev", release, broken)
    assert step_of(promo, "dev")["phase"] == "Failed"
    assert step_of(promo, "staging")["phase"] == "Pending"
    assert history(helm, dev, release)[-1]["chart"] == "shop-web-1.1.0"


def test_a_lying_success_report_is_caught_by_verification(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    driver: Driver,
    charts: dict[str, Path],
    release: str,
) -> None:
    dev = stack.kubeconfig("dev")
    helm.run(dev, *upgrade_args(release, charts["1.1.0"]))
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging"])).json()[
        "metadata"
    ]["name"]
    got = api.step(carol, name, "dev", "kubeconfig")
    kubeconfig = write_kubeconfig(driver.workdir, got.json())
    failed = helm.run(kubeconfig, *upgrade_args(release, chart, "--set", "failWith=2"), check=False)
    assert failed.returncode != 0
    # the client says helm succeeded: the backend reads the release record itself
    promo = api.step(carol, name, "dev", "report", {"helmExitCode": 0}).json()
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", promo["status"]
    assert step["message"] == "release is on revision 3 with chart 1.1.0"
    assert api.step(carol, name, "staging", "kubeconfig").status_code == 409

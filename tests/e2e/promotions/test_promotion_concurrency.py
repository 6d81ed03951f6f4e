"""One promotion per release at a time, resume by its initiator with the same chart only,
and a backend that dies mid-chain: another process continues from the promotion's record
and re-verifies the step before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import (
    CLIENT_ID,
    Api,
    Driver,
    Helm,
    Logins,
    plan,
    step_of,
    upgrade_args,
    write_kubeconfig,
)
from tests.stack.backend_daemon import BackendProcess, spawn_backend

pytestmark = pytest.mark.stack


def test_two_creates_of_one_release_at_once_one_wins(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    carol = logins.fresh("carol")
    body = plan(release, identity, "1.2.0", ["dev", "staging"])
    start = threading.Barrier(2)
    answers: list[requests.Response] = []

    def create() -> None:
        own = Api(api.url)  # a connection of its own
        start.wait()
        answers.append(own.create(carol, **body))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 201]
    [lost] = [a.json() for a in answers if a.status_code == 409]
    assert lost["reason"] == "Conflict"
    name = won["metadata"]["name"]
    assert lost["message"] in (
        f"promotion {name} of shop/{release} is still Running; resume or wait for it",
        f"promotion {name} of shop/{release} is being created; wait for it",
    )
    # and later, one at a time: the same answer, naming the holder
    third = api.create(carol, **body)
    assert third.status_code == 409
    assert third.json()["message"] == (
        f"promotion {name} of shop/{release} is still Running; resume or wait for it"
    )


def test_resume_is_the_initiators_with_the_same_chart(
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
    other = helm.identity(release, charts["1.1.0"])
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging"])).json()[
        "metadata"
    ]["name"]
    assert step_of(driver.run_step(carol, name, "dev", release, chart), "dev")["phase"] == (
        "Succeeded"
    )
    differs = api.resume(carol, name, other)
    assert differs.status_code == 409
    assert differs.json()["message"] == "chart identity differs from the promotion's"
    dave = logins.fresh("dave")
    assert api.resume(dave, name, identity).status_code == 403
    same = api.resume(carol, name, identity)
    assert same.status_code == 200
    assert same.json()["status"]["phase"] == "Running"
    # resume re-verifies the step before: dev rolled back behind the promotion's back
    helm.run(dev, "rollback", release, "1", "-n", "shop", "--wait")
    stale = api.resume(carol, name, identity)
    assert stale.status_code == 200
    promo = stale.json()
    assert promo["status"]["phase"] == "Failed"
    assert (
        "dev no longer verified: release is on revision 3 with chart 1.1.0"
        in (promo["status"]["message"])
    )


@pytest.fixture
def second_backend(stack: Stack) -> Iterator[list[BackendProcess]]:
    """Backend processes of this test's own against the same mgmt (the stack's stays up)."""
    started: list[BackendProcess] = []
    yield started
    for b in started:
        b.stop()


def test_backend_restart_mid_chain_resumes_and_reverifies(
    stack: Stack,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Path],
    release: str,
    second_backend: list[BackendProcess],
    tmp_path: Path,
) -> None:
    issuer = stack.env["STACK_IDP_ISSUER"]
    first = spawn_backend(issuer, CLIENT_ID, name="promo-restart")
    second_backend.append(first)
    api = Api(first.url)
    driver = Driver(api, helm, tmp_path / "kubeconfigs")
    chart = charts["1.2.0"]
    identity = helm.identity(release, chart)
    carol = logins.fresh("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging", "prod"])).json()[
        "metadata"
    ]["name"]
    driver.run_step(carol, name, "dev", release, chart)
    # staging: the credential is issued, helm runs, and the backend dies before the report
    got = api.step(carol, name, "staging", "kubeconfig")
    assert got.status_code == 200
    kubeconfig = write_kubeconfig(driver.workdir, got.json())
    helm.run(kubeconfig, *upgrade_args(release, chart))
    first.kill()
    again = spawn_backend(issuer, CLIENT_ID, name="promo-restart")
    second_backend.append(again)
    api = Api(again.url)
    driver = Driver(api, helm, tmp_path / "kubeconfigs")
    resumed = api.resume(carol, name, identity)
    assert resumed.status_code == 200, resumed.text
    promo = resumed.json()
    assert step_of(promo, "dev")["phase"] == "Succeeded"
    assert step_of(promo, "staging")["phase"] == "Deploying"
    # the step left Deploying runs helm again (an idempotent upgrade with the same chart)
    promo = driver.run_step(carol, name, "staging", release, chart)
    assert step_of(promo, "staging")["phase"] == "Succeeded", promo["status"]
    assert step_of(promo, "staging")["revision"] == 2  # helm ran twice: revisions 1 and 2
    assert step_of(promo, "staging")["previousRevision"] is None
    approved = api.approve(logins.fresh("dave"), name, "prod", "CAB ok")
    assert approved.status_code == 200
    promo = driver.run_step(carol, name, "prod", release, chart)
    assert promo["status"]["phase"] == "Succeeded", promo["status"]

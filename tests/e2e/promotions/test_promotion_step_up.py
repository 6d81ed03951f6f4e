"""One step-up covers a promotion's steps until `stepUpExpires`; after it, a fresh login
is needed again (and extends the cover). This module registers an environment of its own
on the dev cluster, `t-promo-su` (deploy in `shop`, maxAuthAgeSeconds 5, so a login goes
stale within the test), removed at its end; platform-admins' grants cover it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Helm, Logins, plan, step_of
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
ENV = "t-promo-su"
MAX_AGE = 5


@pytest.fixture(scope="module")
def short_env(stack: Stack) -> Iterator[str]:
    out = admin_cli(
        "register",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=promotion step-up test",
        f"--name={ENV}",
        "--deploy-namespace=shop",
        f"--max-auth-age={MAX_AGE}",
    )
    assert out.returncode == 0, out.stderr
    try:
        yield ENV
    finally:
        stack.kubectl("mgmt", "delete", "environment", ENV, "--wait=false", check=False)


def test_one_step_up_covers_the_steps_until_it_expires(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Path],
    release: str,
    short_env: str,
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    carol = logins.fresh("carol")
    created = api.create(carol, **plan(release, identity, "1.2.0", [short_env]))
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    time.sleep(MAX_AGE + 1)  # the login is now older than the environment's maxAuthAgeSeconds
    # a plain deploy credential would need a fresh login now ...
    plain = api.call(
        "POST", f"/api/v1/environments/{short_env}/kubeconfig", carol,
        {"level": "deploy", "justification": "x"},
    )  # fmt: skip
    assert plain.status_code == 401
    # ... the promotion's step does not: its creation's step-up covers it
    covered = api.step(carol, name, short_env, "kubeconfig")
    assert covered.status_code == 200, covered.text
    # the cover ends (as if 24 hours had passed): the same login is refused, a fresh one works
    past = {"status": {"stepUpExpires": "2000-01-01T00:00:00Z"}}
    stack.kubectl(
        "mgmt", "patch", "promotion.scipian.io", name, "--subresource=status",
        "--type=merge", "-p", json.dumps(past),
    )  # fmt: skip
    stale = api.step(carol, name, short_env, "kubeconfig")
    assert stale.status_code == 401
    assert stale.json()["reason"] == "InsufficientUserAuthentication"
    assert f"max_age={MAX_AGE}" in stale.headers["WWW-Authenticate"]
    fresh = api.step(logins.fresh("carol"), name, short_env, "kubeconfig")
    assert fresh.status_code == 200, fresh.text
    promo = api.get(carol, name).json()
    assert promo["status"]["stepUpExpires"] > "2000-01-01T00:00:00Z"
    assert step_of(promo, short_env)["phase"] == "Deploying"


def test_step_routes_refuse_wrong_phases_and_bodies(
    api: Api, logins: Logins, helm: Helm, charts: dict[str, Path], release: str
) -> None:
    identity = helm.identity(release, charts["1.2.0"])
    carol = logins.token("carol")
    name = api.create(carol, **plan(release, identity, "1.2.0", ["dev", "staging"])).json()[
        "metadata"
    ]["name"]
    assert api.step(carol, name, "dev", "report", {"helmExitCode": 0}).status_code == 409
    assert api.step(carol, name, "dev", "verify").status_code == 409
    assert api.step(carol, name, "prod", "kubeconfig").status_code == 404  # not in the chain
    assert api.step(carol, name, "dev", "kubeconfig", {"x": 1}).status_code == 400
    assert api.step(carol, name, "dev", "report", {"helmExitCode": 300}).status_code == 400
    assert api.step(carol, name, "Dev", "kubeconfig").status_code == 400
    assert api.step(None, name, "dev", "kubeconfig").status_code == 401  # type: ignore[arg-type]
    assert api.resume(carol, name, "sha256:xyz").status_code == 400

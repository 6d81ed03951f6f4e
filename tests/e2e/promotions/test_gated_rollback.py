"""Gated rollback (change.md §7) end to end: the real plugin's `helm rollback` on prod is
refused a deploy credential (403 PromotionRequired) and becomes a one-step promotion
`rollbackTo` that the backend executes with its own helm, after prod's approval or, with
`--break-glass`, at once. prod's admin installed this test's release as revision 1 (shop-web
1.1.0) and 2 (1.2.0); the rollback's result is read with the admin's own helm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.world import NAMESPACE, Api, Archive, Flow, Helm, Logins, step_of
from tests.e2e.test_plugin_deploy import login, make_env
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack

CREATED = re.compile(r"prod is gated: the rollback to revision 1 is promotion (\S+), ")


def two_revisions(stack: Stack, helm: Helm, release: str, charts: dict[str, Archive]) -> None:
    for version in ("1.1.0", "1.2.0"):
        helm.run(
            stack.kubeconfig("prod"),
            "upgrade", "--install", release, str(charts[version].path), "-n", NAMESPACE,
        )  # fmt: skip


def newest(stack: Stack, helm: Helm, release: str) -> dict[str, Any]:
    done = helm.run(stack.kubeconfig("prod"), "history", release, "-n", NAMESPACE, "-o", "json")
    items: list[dict[str, Any]] = json.loads(done.stdout)
    return items[-1]


def plugin(stack: Stack, user: str, tmp_path: Path) -> dict[str, str]:
    """A fresh plugin login of `user` (prod's step-up is satisfied by it)."""
    config = tmp_path / user / "config"
    config.mkdir(parents=True)
    return login(stack, user, make_env(stack, config))


def rollback(stack: Stack, env: dict[str, str], release: str, *more: str) -> Any:
    args = ["prod", "helm", "rollback", release, "1", "-n", NAMESPACE]
    args += ["--reason", f"roll back {release}", "--helm", stack.env["STACK_HELM"], *more]
    return run_plugin(args, env, timeout=300)


def test_a_gated_rollback_through_approval(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
    tmp_path: Path,
) -> None:
    two_revisions(stack, helm, release, charts)
    carol = plugin(stack, "carol", tmp_path)
    got = rollback(stack, carol, release, "--no-wait")
    assert got.returncode == 3, got.stderr  # stopped at prod's approval
    found = CREATED.search(got.stderr)
    assert found, got.stderr
    name = found.group(1)
    promo = api.get(logins.token("carol"), name).json()
    assert promo["spec"]["rollbackTo"] == 1 and "chart" not in promo["spec"]
    assert promo["spec"]["through"] == ["prod"]
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval"
    assert newest(stack, helm, release)["revision"] == 2  # nothing ran yet
    dave = logins.fresh("dave")
    read = api.call("GET", f"/api/v1/promotions/{name}/steps/prod/diff", dave)
    assert read.status_code == 200, read.text
    digest = read.json()["digest"]
    assert digest == step_of(promo, "prod")["renderDigest"]
    approved = api.approve(dave, name, "prod", f"roll back {release}", digest)
    assert approved.status_code == 200, approved.text
    done = flow.finished(dave, approved.json())
    assert done["status"]["phase"] == "Succeeded", done["status"]
    last = newest(stack, helm, release)
    assert (last["revision"], last["status"], last["description"]) == (
        3,
        "deployed",
        "Rollback to 1",
    )
    assert last["chart"] == "shop-web-1.1.0"


def test_a_gated_rollback_with_break_glass(
    stack: Stack,
    api: Api,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    release: str,
    tmp_path: Path,
) -> None:
    two_revisions(stack, helm, release, charts)
    # break-glass is a grant of its own: carol deploys to prod but holds none
    carol = plugin(stack, "carol", tmp_path)
    refused = rollback(stack, carol, release, "--break-glass")
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert newest(stack, helm, release)["revision"] == 2
    dave = plugin(stack, "dave", tmp_path)
    got = rollback(stack, dave, release, "--break-glass")
    assert got.returncode == 0, got.stderr  # executed at once, without an approval
    found = CREATED.search(got.stderr)
    assert found and "break-glass" in got.stderr, got.stderr
    promo = api.get(logins.token("dave"), found.group(1)).json()
    assert promo["spec"]["breakGlass"] is True and promo["spec"]["rollbackTo"] == 1
    assert promo["status"]["phase"] == "Succeeded"
    assert step_of(promo, "prod")["approvals"] == []
    last = newest(stack, helm, release)
    assert (last["revision"], last["description"]) == (3, "Rollback to 1")

"""Promotions in the dashboard, in a real browser against the real stack, with the real
plugin waiting on the promotion: the progress strip changing from Deploying to Succeeded
without a reload, dave approving the gated step from the browser through a step-up login,
the waiting `kubectl scipian promote` then continuing to exit 0, no Approve button for the
initiator, and her forged approval refused.

The test reads and changes only what it creates (the `chain` fixture): two environments
of its own on the dev and prod clusters, deploying into a namespace of its own, the second
prod-like (requirePromotionFrom the first, one approval, a login no older than
MAX_AUTH_AGE), dave's approve grant on it, and its release; all removed afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import Stack
from tests.e2e.helm.world import Helm
from tests.e2e.promotions.test_promote_plugin import summary
from tests.e2e.test_plugin_deploy import login, make_env
from tests.e2e.ui.browser import Browser
from tests.e2e.ui.conftest import as_http
from tests.helpers import wait_for
from tests.stack import grants
from tests.stack.backend_daemon import admin_cli
from tests.stack.paths import venv_bin
from tests.stack.releases import helm_env, package

pytestmark = pytest.mark.stack
# The gated environment's login age: long enough for carol's fresh login to create the
# promotion, short enough that dave's dashboard login is stale by the time he approves.
MAX_AUTH_AGE = 20
BOUND = 300.0  # a bound on waiting for the plugin, not a timing assertion


@dataclass(frozen=True)
class Chain:
    first: str  # on the dev cluster
    gated: str  # on the prod cluster: requirePromotionFrom first, 1 approval, MAX_AUTH_AGE
    namespace: str  # the deploy namespace of both, on both clusters
    release: str


def _register(stack: Stack, env: str, cluster: str, namespace: str, *more: str) -> None:
    out = admin_cli(
        "register", f"--name={env}", f"--kubeconfig={stack.kubeconfig(cluster)}",
        "--description=dashboard promotion test", "--deploy-cluster-role=edit",
        "--allow-privileged-role", f"--deploy-namespace={namespace}", *more,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


@pytest.fixture
def chain(stack: Stack) -> Iterator[Chain]:
    """The test's own environments, grant and release, removed afterwards (with the
    Promotions of the release, its lock, the namespaces on both clusters)."""
    from scipian_backend.promotions.lock import lock_name

    tag = uuid.uuid4().hex[:6]
    c = Chain(f"t-ui-{tag}-dev", f"t-ui-{tag}-prod", f"t-ui-{tag}", f"t-ui-{tag}")
    # release-managers approve only `prod` by name: dave needs a grant for this one too.
    approve = grants.Grant("approve", grants.APPROVE, "oidc:release-managers", (c.gated,))
    rbac = json.dumps(grants.manifest((approve,)))
    try:
        _register(stack, c.first, "dev", c.namespace)
        _register(
            stack, c.gated, "prod", c.namespace, f"--require-promotion-from={c.first}",
            "--approvals=1", f"--max-auth-age={MAX_AUTH_AGE}",
        )  # fmt: skip
        stack.kubectl("mgmt", "apply", "-f", "-", input=rbac)
        yield c
    finally:
        stack.kubectl("mgmt", "delete", "--ignore-not-found", "-f", "-", input=rbac, check=False)
        out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json", check=False)
        for item in json.loads(out.stdout or '{"items": []}')["items"]:
            if (item["spec"]["release"], item["spec"]["namespace"]) == (c.release, c.namespace):
                name = item["metadata"]["name"]
                stack.kubectl("mgmt", "delete", "promotion.scipian.io", name, check=False)
        lease = lock_name(c.namespace, c.release)
        stack.kubectl("mgmt", "delete", "lease", "-n", "scipian-system", lease, check=False)
        for env in (c.first, c.gated):
            stack.kubectl("mgmt", "delete", "environment", env, "--ignore-not-found", check=False)
            secret = f"{env}-kubeconfig"
            stack.kubectl(
                "mgmt", "delete", "secret", "-n", "scipian-system", secret, "--ignore-not-found",
                check=False,
            )  # fmt: skip
        for cluster in ("dev", "prod"):
            stack.kubectl(cluster, "delete", "namespace", c.namespace, "--wait=false", check=False)


# The real helm, except that the promotion's first `upgrade` waits until the test says go
# (its page is open): the strip is then seen Deploying for certain, whatever the timing.
GATED_HELM = """#!{python}
import os, sys, time
real, gate = {real!r}, {gate!r}
if sys.argv[1:2] == ["upgrade"] and not os.path.exists(gate):
    open(gate + ".waiting", "w").close()
    deadline = time.monotonic() + 300
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.1)
os.execv(real, [real, *sys.argv[1:]])
"""


class Plugin:
    """`kubectl scipian ...` running in the background without a terminal; its stdout and
    stderr read by threads as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(venv_bin() / "kubectl-scipian"), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=_drain, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=_drain, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def line(self, start: str) -> str | None:
        return next((x for x in list(self.err) if x.startswith(start)), None)

    def wait_line(self, start: str) -> str:
        """Its first stderr line starting so, once it printed it (fails if it exits first)."""
        wait_for(
            f"the plugin to say {start!r}",
            lambda: self.line(start) is not None or self.proc.poll() is not None,
            BOUND,
        )
        found = self.line(start)
        assert found is not None, "".join(self.err)
        return found

    def finish(self) -> str:
        """Its stdout, once it ended."""
        self.proc.wait(BOUND)
        for reader in self.readers:
            reader.join(BOUND)
        return "".join(self.out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _drain(stream: IO[str] | None, into: list[str]) -> None:
    for line in stream or []:
        into.append(line)


def strip_phase(b: Browser, env: str) -> str:
    return b.text(f'#promotion [data-step="{env}"] .phase')


def wait_phase(b: Browser, env: str, phases: tuple[str, ...], seen: list[str]) -> str:
    deadline = time.monotonic() + 120
    while True:
        phase = strip_phase(b, env)
        if not seen or seen[-1] != phase:
            seen.append(phase)
        if phase in phases:
            return phase
        assert time.monotonic() < deadline, f"{env} stayed {seen}"
        time.sleep(0.2)


def promotion(stack: Stack, name: str) -> dict[str, Any]:
    """The test's own Promotion as the management cluster's admin reads it."""
    doc: dict[str, Any] = json.loads(
        stack.kubectl("mgmt", "get", "promotion.scipian.io", name, "-o", "json").stdout
    )
    return doc


def approvals_of(promo: dict[str, Any], env: str) -> list[tuple[str, str]]:
    [step] = [s for s in promo["status"]["steps"] if s["environment"] == env]
    return [(a["user"], a["justification"]) for a in step.get("approvals") or []]


def test_a_promotion_in_the_browser(
    stack: Stack,
    chain: Chain,
    signed_in: Callable[..., Browser],
    tmp_path: Path,
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    # dave signs in first: by the time he approves, his login is older than the gated
    # environment allows, so the approval takes a step-up.
    dave = signed_in("dave")
    dave_signed_in = time.monotonic()
    carol = signed_in("carol")

    helm_bin = stack.env["STACK_HELM"]
    chart = package(Path(helm_bin), "1.2.0", tmp_path / "charts")
    gate = tmp_path / "go"
    gated_helm = tmp_path / "helm"
    gated_helm.write_text(GATED_HELM.format(python=sys.executable, real=helm_bin, gate=str(gate)))
    gated_helm.chmod(0o755)
    carol_env = login(stack, "carol", make_env(stack, tmp_path / "carol"))  # fresh: creates
    carol_env.update(
        HELM_CACHE_HOME=str(tmp_path / "h" / "cache"),
        HELM_CONFIG_HOME=str(tmp_path / "h" / "config"),
        HELM_DATA_HOME=str(tmp_path / "h" / "data"),
    )
    through = [chain.first, chain.gated]
    args = [
        "promote", chain.release, "-n", chain.namespace, "--chart", str(chart),
        "--version", "1.2.0", "--through", ",".join(through),
        "--reason", f"t-ui {chain.release}", "--helm", str(gated_helm),
    ]  # fmt: skip
    promote = Plugin(args, carol_env)  # no --no-wait: it waits for the approval
    try:
        name = promote.wait_line("promotion ").split(":", 1)[0].removeprefix("promotion ")
        wait_for(
            "the plugin's helm upgrade on the first step",
            lambda: gate.with_suffix(".waiting").exists() or promote.proc.poll() is not None,
            BOUND,
        )
        assert promote.proc.poll() is None, "".join(promote.err)

        carol.click('a[href="/ui/promotions"]')
        carol.wait_for(f'tr[data-promo="{name}"]')
        carol.screenshot("promotions")
        carol.click(f'tr[data-promo="{name}"] a')
        carol.wait_for("#promotion")
        # The backend issued the first step's credential; the plugin's helm waits for go.
        assert [strip_phase(carol, e) for e in through] == ["Deploying", "Pending"]
        carol.screenshot("promotion-deploying")
        carol.driver.execute_script("window.__notReloaded = true;")

        # The plugin's real helm runs while the page is open: the strip follows it.
        gate.touch()
        seen = ["Deploying"]
        wait_phase(carol, chain.first, ("Succeeded",), seen)
        assert carol.driver.execute_script("return window.__notReloaded === true;")
        assert seen[0] == "Deploying" and seen[-1] == "Succeeded", seen
        carol.keep()

        # The gated step waits for an approval, and so does the plugin.
        waiting = promote.wait_line(f"waiting for approval of {chain.gated}: ")
        assert waiting == (
            f"waiting for approval of {chain.gated}: kubectl scipian approve {name} "
            f"--step {chain.gated} --reason TEXT\n"
        )
        assert promote.proc.poll() is None, "".join(promote.err)
        carol.open(carol.url.split("?")[0])
        assert strip_phase(carol, chain.gated) == "AwaitingApproval"
        # The initiator gets no Approve button, and her forged approval is refused.
        assert not carol.has("form.approve")
        carol.screenshot("promotion-awaiting-approval")
        token = carol.driver.find_element("css selector", "form#logout input[name=csrf]")
        forged = as_http(carol).post(
            f"{url}/ui/promotions/{name}/steps/{chain.gated}/approve",
            data={"csrf": token.get_attribute("value"), "justification": "approving my own"},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert forged.status_code == 403
        # RBAC answers first (carol is no release manager), as the API does.
        says = f"oidc:carol@example.test may not approve on environment {chain.gated}"
        assert says in forged.text
        assert approvals_of(promotion(stack, name), chain.gated) == []

        # A cross-site form would carry no CSRF token: refused, nothing recorded.
        no_token = as_http(dave).post(
            f"{url}/ui/promotions/{name}/steps/{chain.gated}/approve",
            data={"justification": "forged"},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        assert approvals_of(promotion(stack, name), chain.gated) == []
        # dave approves from the browser; his dashboard login is older than the gated
        # environment allows (waited out here if the steps above were quicker), so the
        # provider asks for his password again (a step-up), then the approval is recorded.
        time.sleep(max(0.0, dave_signed_in + MAX_AUTH_AGE + 1 - time.monotonic()))
        carol.driver.execute_script("window.__notReloaded = true;")
        dave.open(f"{url}/ui/promotions/{name}")
        assert dave.has(f'tr[data-step-row="{chain.gated}"] form.approve')
        dave.screenshot("promotion-approve")
        dave.driver.find_element(
            "css selector", 'form.approve input[name="justification"]'
        ).send_keys("CAB approved CHG-42")
        dave.submit(f'tr[data-step-row="{chain.gated}"] form.approve button')
        answered = dave.answer_provider(stack.env["STACK_PASSWORD"])
        assert "login" in answered  # the step-up: his password again
        dave.wait_for("#approved")
        dave.screenshot("promotion-approved")
        assert approvals_of(promotion(stack, name), chain.gated) == [
            ("oidc:dave@example.test", "CAB approved CHG-42")
        ]
        assert not dave.has("form.approve")  # once per user

        # The plugin waiting on the promotion continues: the gated step deploys, it exits
        # 0 with every step Succeeded, and carol's open page shows it without a reload.
        stdout = promote.finish()
    finally:
        promote.kill()
    assert promote.proc.returncode == 0, "".join(promote.err)
    rows = summary(stdout)
    assert list(rows) == through, stdout
    for row in rows.values():
        assert row[1:4] == ["Succeeded", "1", "shop-web-1.2.0"], stdout
    # What the real helm says on the prod cluster, as its admin.
    admin = Helm(Path(helm_bin), helm_env(tmp_path / "admin", stack.kubeconfig("prod")))
    history = json.loads(
        admin.run("history", chain.release, "-n", chain.namespace, "-o", "json").stdout
    )
    assert [(h["revision"], h["status"], h["chart"]) for h in history] == [
        (1, "deployed", "shop-web-1.2.0")
    ]
    seen = []
    wait_phase(carol, chain.gated, ("Succeeded",), seen)
    carol.wait_text("#promotion .promo-phase", "Succeeded")
    assert carol.driver.execute_script("return window.__notReloaded === true;")
    carol.keep()
    carol.screenshot("promotion-succeeded")
    assert promotion(stack, name)["status"]["phase"] == "Succeeded"


def test_promotions_are_read_as_rbac_allows(
    stack: Stack, signed_in: Callable[..., Browser]
) -> None:
    mallory = signed_in("mallory")
    mallory.open(f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions")
    assert 'cannot list resource "promotions"' in mallory.text("#error-message")
    mallory.screenshot("promotions-refused")
    alice = signed_in("alice")
    alice.open(f"{stack.env['SCIPIAN_BACKEND_URL']}/ui/promotions")
    assert alice.has("#promotions")
    alice.screenshot("promotions")

"""Shared fixtures: the real local stack, reused when running, else started.

A stack that a test session starts is stopped at its end (unless
STACK_KEEP=1); one that was already running (scripts/stack up) is left alone.
Under pytest-xdist (`make test` runs two workers) the first worker that needs the
stack starts it, the other waits for it (the stack's lock, tests/stack/stack.py), and
the controlling process stops it once both are done. Which tests may run beside which:
SHARED_STATE_FILES below.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]

    def kubeconfig(self, cluster: str) -> Path:
        return Path(self.env[f"STACK_{cluster.upper()}_KUBECONFIG"])

    @property
    def kubectl_path(self) -> str:
        return self.env["STACK_KUBECTL"]

    def kubectl(
        self, cluster: str, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl as the cluster's admin."""
        return subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig(cluster)}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The stack with its default provider pair (oidc-provider and the stack's backend), even
    when a person selected Dex's (`scripts/stack up --idp dex`)."""
    from tests.stack import providers
    from tests.stack.stack import down, env_or_up

    env, started = env_or_up()  # under the stack's own lock: one process starts it
    yield Stack(providers.select(env, providers.DEFAULT))
    if started and os.environ.get("STACK_KEEP") != "1":
        if RUN in os.environ:  # a worker: the other may still be running tests
            _started_mark().touch()
        else:
            down(quiet=True)


@pytest.fixture(scope="session")
def dex_stack(stack: Stack) -> Stack:
    """The same stack with the Dex pair selected: Dex (groups from slapd) and a backend that
    trusts it, on the same clusters and grants; started once, for every session after."""
    from tests.stack import providers
    from tests.stack.stack import ensure_dex

    return Stack(providers.select(ensure_dex(), providers.DEX))


# pytest-xdist: the controlling process names the run; its workers inherit the name.
RUN = "SCIPIAN_TEST_RUN"


def _started_mark() -> Path:
    from tests.stack.paths import stack_dir

    return stack_dir() / f"started-by-run-{os.environ[RUN]}"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not _is_worker(config) and getattr(config.option, "numprocesses", None):
        os.environ[RUN] = uuid.uuid4().hex


# pytest-xdist units (`make test` runs two workers: --dist loadfile). Each test file is one,
# so that its module fixtures run once, on one worker. These files change what every user
# sees of the shared stack while they run (they register Environments, grant a shared
# group, revoke a shared user's sessions) or read all of it (every Environment, exact lists
# of what a user may use): they are one group, run one after the other in collection
# order on one worker and never beside each other. Everything else reads only what it
# created.
SHARED_STATE_FILES = frozenset(
    f"tests/e2e/{name}.py"
    for name in (
        "accessrequests/test_request_api",  # registers t-areq, grants bob, carol, dave there
        "accessrequests/test_request_caps",  # grants users of its own backend's prefix
        "accessrequests/test_request_credentials",  # registers t-kreq, grants mallory there
        "accessrequests/test_request_hint",  # grants mallory request-read everywhere
        "accessrequests/test_request_window",  # registers t-kwin, grants mallory there
        "accessrequests/test_request_plugin",  # bob holds deploy on prod while approved
        "helm/test_helm_rollback",  # registers t-rollback
        "promotions/test_promote_plugin",  # registers t-promo-stepup
        "promotions/test_promotion_attacks",  # registers t-atk-a/b, changes their gates
        "promotions/test_promotion_step_up",  # registers t-promo-su
        "test_backend_api",  # every user's exact environment list
        "test_bench_leftovers",  # registers the bench's fan-out aliases, granted to team-a
        "test_break_glass",  # registers t-glass
        "test_cleanup",  # one cleanup pass over every Environment's target and mgmt
        "test_completion_bash",  # an alias per registered Environment
        "test_deployer_tokens",  # revokes alice's sessions on dev; registers t-upgrade-*
        "test_faults_stack",  # revokes alice's sessions on dev
        "test_identities",  # registers Environments on dev granted to alice
        "test_listing_scale",  # registers t-lscale-*; a user of its own prefix reads all
        "test_observer_role",  # registers an Environment of its own
        "test_parity_watch",  # revokes alice's sessions on dev
        "test_plugin_access",  # revokes bob's on prod; carol reaches every Environment
        "test_plugin_deploy",  # registers two Environments granted to team-a; revokes alice
        "test_plugin_exec_kubeconfig",  # revokes bob's sessions on prod
        "test_plugin_multienv",  # alice's @all is exactly dev
        "test_real_node_backend",  # the real node: one worker starts and stops it
        "test_real_node_restore",  # crashes the real node and starts it again
        "test_real_node_workloads",  # registers t-node (mgmt); the real node as above
        "test_register_refusals",  # registers Environments of its own
        "ui/test_dashboard",  # carol's environments page lists exactly the stack's three
        "ui/test_dashboard_activity",  # floods mgmt's Events namespace; dev Events dated ahead
        "ui/test_dashboard_break_glass",  # registers an Environment of its own
        "ui/test_dashboard_promotions",  # registers two Environments of its own
        "ui/test_dashboard_requests",  # registers an Environment of its own
        # last: every page the two above showed, kept in this process (ui/conftest.py)
        "ui/test_zz_no_token",
    )
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` with the SHARED_STATE_FILES as one unit. (Markers cannot do it:
    pytest-xdist 3.8's `--dist loadgroup` rewrites `item._nodeid`, which pytest 9 no
    longer reads, so every test became a unit of its own and modules split.)"""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    # The group is the longest unit (about half the suite's time), so it must start first:
    # xdist queues units by their number of tests, largest first, and it has the most.
    class SharedStateAsOneFile(LoadFileScheduling):  # type: ignore[misc]  # untyped base
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return "shared-state" if file in SHARED_STATE_FILES else file

    return SharedStateAsOneFile(config, log)


IDPS = [
    pytest.param("oidc-provider", marks=pytest.mark.idp_oidc_provider, id="oidc-provider"),
    pytest.param("dex", marks=pytest.mark.idp_dex, id="dex"),
]


@pytest.fixture(scope="session", params=IDPS)
def idp_stack(request: pytest.FixtureRequest) -> Stack:
    """The stack once per provider pair: tests that use it run against both providers
    (`-m idp_dex` or `-k dex` runs one)."""
    name = "stack" if request.param == "oidc-provider" else "dex_stack"
    chosen: Stack = request.getfixturevalue(name)
    return chosen


# --- secret hygiene: no JWT in any test's captured output or in any stack log ----------------
#
# Every report's captured stdout/stderr/log and failure text, and at the end every file in
# the stack's log dir, are scanned for JWT-shaped strings. Id tokens, issued tokens and the
# broker credentials (ServiceAccount tokens) are all JWTs. A hit fails the run.
SECRET_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Reviewed allow-list: node id prefixes of tests whose purpose is to print a credential
# (e.g. the ExecCredential command's stdout, if a test ever echoes it). Empty today: such
# tests capture the plugin's output through subprocess pipes, which pytest never sees.
SECRET_SCAN_ALLOW: tuple[str, ...] = ()
_secret_hits: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if SECRET_SCAN_ALLOW and report.nodeid.startswith(SECRET_SCAN_ALLOW):
        return
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    hit = f"{report.nodeid}: captured output or failure text"
    if hit not in _secret_hits and any(SECRET_JWT.search(text) for text in texts):
        _secret_hits.append(hit)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.stack.paths import stack_dir

    if _is_worker(session.config):
        return  # the controlling process receives every report and scans the logs once
    if RUN in os.environ and _started_mark().exists():
        from tests.stack.stack import down

        _started_mark().unlink()
        down(quiet=True)  # a worker started it; both are done now

    logs = Path(os.environ.get("STACK_LOGS_DIR") or stack_dir() / "logs")
    if logs.is_dir():
        for path in sorted(p for p in logs.rglob("*") if p.is_file()):
            if SECRET_JWT.search(path.read_text(errors="replace")):
                _secret_hits.append(f"{path}: a JWT-shaped string")
    if _secret_hits:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["secret scan: JWT-shaped strings found (tokens must never be output):"]
        lines += [f"  {hit}" for hit in _secret_hits]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

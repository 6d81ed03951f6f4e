"""Shared fixtures: the real local stack, reused when running, else started.

A stack that a test session starts is stopped at its end (unless
STACK_KEEP=1); one that was already running (scripts/stack up) is left alone.
Under pytest-xdist (`make test` runs two workers) the first worker that needs the
stack starts it, the other waits for it (the stack's lock, tests/stack/stack.py), and
the controlling process stops it once both are done.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

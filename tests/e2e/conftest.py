"""Fixtures of the end-to-end tests beyond the shared `stack`.

Every test that reaches the stack (through `stack` or `dev`) finds other people's objects
on dev and prod first (tests/stack/foreign.py): two more CRDs with the short name `wdg`,
a namespace of busy pods, more namespaces. Every test must pass beside them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import running_dev_env

_installed: set[Path] = set()


def _with_foreign_objects(env: dict[str, str]) -> None:
    """Once per session and cluster; idempotent, left in place for other sessions."""
    from tests.stack.exclusive import exclusive

    with exclusive("foreign-objects"):  # `kubectl apply` twice at once: AlreadyExists
        _install_foreign_objects(env)


def _install_foreign_objects(env: dict[str, str]) -> None:
    from tests.stack import foreign

    for cluster in ("dev", "prod"):
        kubeconfig = Path(env.get(f"STACK_{cluster.upper()}_KUBECONFIG", ""))
        if kubeconfig in _installed or not kubeconfig.is_file():
            continue
        if cluster != "dev":  # dev alone may be up while someone restarts the rest
            ready = subprocess.run(
                [env["STACK_KUBECTL"], f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"],
                capture_output=True,
                check=False,
                timeout=30,
            )
            if ready.returncode != 0:
                continue
        foreign.install(env["STACK_KUBECTL"], kubeconfig)
        _installed.add(kubeconfig)


@pytest.fixture(scope="session")
def stack(stack: Stack) -> Stack:
    _with_foreign_objects(stack.env)
    return stack


@pytest.fixture(scope="module")
def dev(request: pytest.FixtureRequest) -> Stack:
    """The running stack when its dev cluster answers, whatever the state of the rest (the
    parity suites need only dev); else the shared `stack` fixture, which may start one."""
    env = running_dev_env()
    if env:
        _with_foreign_objects(env)
        return Stack(env)
    result: Stack = request.getfixturevalue("stack")
    return result

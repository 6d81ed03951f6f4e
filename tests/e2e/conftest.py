"""Fixtures of the end-to-end tests beyond the shared `stack`.

Every test that reaches the stack (through `stack` or `dev`) finds other people's objects
on dev and prod first (tests/stack/foreign.py): two more CRDs with the short name `wdg`,
a namespace of busy pods, more namespaces. Every test must pass beside them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import running_dev_env

if TYPE_CHECKING:
    from tests.e2e.real_node import RealNode

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


@pytest.fixture(scope="session")
def real_node(stack: Stack) -> Iterator[RealNode]:
    """The real node joined to mgmt (tests/stack/node.py; docs/stack.md "Real node"), started
    for the files that ask for it and stopped (the host restored) at the session's end unless
    `scripts/stack node up` had started it. Skipped, with the reason, where it cannot run
    (no root, no containerd, STACK_REAL_NODE=0, another stack's node)."""
    from tests.e2e import real_node as rn
    from tests.stack import node

    try:
        started = rn.start()
    except node.Unavailable as e:
        pytest.skip(f"no real node: {e}")
    yield started
    # Measured, for docs/stack.md: the build, the node's start, images, pods to Ready.
    lines = [f"{what}: {seconds:.1f}s" for what, seconds in started.timings.items()]
    (node.node_dir() / "timings.txt").write_text("\n".join(lines) + "\n")
    if started.started_here:
        node.down()

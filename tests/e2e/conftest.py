"""Fixtures of the end-to-end tests beyond the shared `stack`."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import running_dev_env


@pytest.fixture(scope="module")
def dev(request: pytest.FixtureRequest) -> Stack:
    """The running stack when its dev cluster answers, whatever the state of the rest (the
    parity suites need only dev); else the shared `stack` fixture, which may start one."""
    env = running_dev_env()
    return Stack(env) if env else request.getfixturevalue("stack")

"""Shared fixtures: the real local stack, reused when running, else started.

A stack that a test session starts is stopped at its end (unless
STACK_KEEP=1); one that was already running (scripts/stack up) is left alone.
"""

from __future__ import annotations

import os
import subprocess
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
    from tests.stack.stack import down, env_or_up

    env, started = env_or_up()
    yield Stack(env)
    if started and os.environ.get("STACK_KEEP") != "1":
        down(quiet=True)

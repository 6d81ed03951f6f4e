"""`make bench` leaves nothing on the shared stack, however it ends (bench/leftovers.py).

It used to leave its 22 Environments (`bench-f01`..`bench-f19`, `bench-p1`..`bench-p3`)
registered and granted to team-a: alice's environment list, `@all` and the dashboard's
pages then showed them to every later test. Here the bench's own registration of its
fan-out aliases runs, and the run is stopped as a terminal or a CI runner stops it.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from bench import fanout, leftovers
from tests.conftest import Stack

pytestmark = pytest.mark.stack


def bench_state(stack: Stack) -> dict[str, list[str]]:
    """What of the bench's is on mgmt: Environments, broker Secrets, grant roles."""

    def names(*args: str) -> list[str]:
        out = stack.kubectl("mgmt", "get", *args, "-o", "json")
        return [i["metadata"]["name"] for i in json.loads(out.stdout)["items"]]

    return {
        "environments": [n for n in names("environments.scipian.io") if n.startswith("bench-")],
        "secrets": [n for n in names("secrets", "-n", "scipian-system") if n.startswith("bench-")],
        "grants": [
            n
            for n in names("clusterroles") + names("clusterrolebindings")
            if n.startswith("scipian-env-bench-")
        ],
    }


def test_a_stopped_bench_leaves_nothing(stack: Stack) -> None:
    nothing: dict[str, list[str]] = {"environments": [], "secrets": [], "grants": []}
    with pytest.raises(KeyboardInterrupt), leftovers.removed_at_exit():
        fanout.register_aliases()
        during = bench_state(stack)
        assert sorted(during["environments"]) == list(fanout.ALIASES)
        assert during["grants"]
        os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or a CI runner stops it
        time.sleep(60)  # interrupted here
    assert bench_state(stack) == nothing

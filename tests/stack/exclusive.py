"""One test process at a time, for what a test session must do once on the shared stack.

`make test` runs the suite in two pytest-xdist workers on one stack. Installing the
foreign objects and building the distributions (setuptools builds in the source tree,
tools/dist caches in build/dist) must not run in both workers at once: each takes a lock
file here first. (Starting the stack and the Dex pair has its own lock: stack.py.)
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from tests.stack.paths import cache_dir


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    # Under the cache dir, not the stack dir: `scripts/stack down` removes the latter.
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield

"""`describe` through kubectl-scipian and through the real kubectl: same bytes, same exit code.

Runs against the objects of test_parity_get's namespace (its module fixture makes them).
"""

from __future__ import annotations

import pytest

from tests.e2e.parity_runner import Parity
from tests.e2e.test_parity_get import NS, dev  # noqa: F401 - the fixtures of that module
from tests.e2e.test_parity_get import parity as parity

pytestmark = pytest.mark.stack

CASES: list[tuple[str, ...]] = [
    ("cm", "alpha"),
    ("cm",),
    ("cm", "al"),
    ("cm", "alpha", "beta"),
    ("cm/alpha", "cm/beta"),
    ("cm", "-l", "team=b"),
    ("cm", "nope"),
    ("ns", NS),
    ("widget", "small"),
    ("widgets",),
    ("wdg", "l"),
    ("widgets", "-l", "size=s"),
    ("cm", "-l", "nope=1"),
    ("roles",),
    ("nodes",),
    ("foo",),
    ("secret", "creds"),
    (),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "<none>")
def test_describe(
    parity: Parity,
    args: tuple[str, ...],
) -> None:
    want, got = parity.compare("describe", "-n", NS, *args)
    assert got.err == want.err
    assert got.out == want.out
    assert got.rc == want.rc

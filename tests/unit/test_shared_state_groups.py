"""The e2e files that change or read all of the shared stack run one after the other.

tests/conftest.py puts them in one pytest-xdist group (SHARED_STATE_FILES). A new test
file that registers an Environment, revokes sessions, reads every Environment, uses
`@all` or reads what the dashboard's browsers saw (kept in one process) must join that
group, or say here why it need not.
"""

from __future__ import annotations

import re

from tests.conftest import SHARED_STATE_FILES
from tests.stack.paths import ROOT

# What makes a file change or read the whole stack.
SIGNS = re.compile(
    r'admin_cli\([^)]*"(register|revoke)"|"--name=|registered_environments\(|"@all"'
    r'|"kind": "Environment"|PAGES_SEEN'
)
# Files with such a sign that still run beside anything, and why.
BESIDE_ANYTHING = {
    # its own users (generated, signed by its own issuer) and its own backends
    "tests/e2e/test_backend_sessions.py",
}


def test_every_listed_file_exists() -> None:
    assert [f for f in sorted(SHARED_STATE_FILES) if not (ROOT / f).is_file()] == []


def test_every_file_that_changes_or_reads_all_of_the_stack_is_in_the_group() -> None:
    signed = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests" / "e2e").rglob("test_*.py")
        if SIGNS.search(p.read_text())
    }
    assert signed - SHARED_STATE_FILES - BESIDE_ANYTHING == set()

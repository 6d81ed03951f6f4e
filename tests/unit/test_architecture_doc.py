"""docs/architecture.md names every module of both packages, and its folder map is the tree.

The map is the table under "## Module map": one row per folder (ending in "/") and per
module, paths relative to the repository root. A module added without a row, or a row
left behind by a move, fails here, so the map a newcomer reads cannot drift.
"""

from __future__ import annotations

import re

from tests.stack.paths import ROOT

PACKAGES = (ROOT / "kubectl_scipian", ROOT / "backend" / "scipian_backend")
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def _map_rows() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for line in section.splitlines() if (m := ROW.match(line))]


def _tree() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ROOT)
            if path.name != "__init__.py":
                found.add(rel.as_posix())
            found.add(rel.parent.as_posix() + "/")
    return found


def test_the_map_has_no_row_twice() -> None:
    rows = _map_rows()
    assert len(rows) == len(set(rows)), sorted({r for r in rows if rows.count(r) > 1})


def test_every_module_and_folder_has_a_row() -> None:
    missing = sorted(_tree() - set(_map_rows()))
    assert not missing, f"add rows to docs/architecture.md's module map: {missing}"


def test_every_row_names_something_that_exists() -> None:
    stale = sorted(set(_map_rows()) - _tree())
    assert not stale, f"rows for paths that are gone: {stale}"

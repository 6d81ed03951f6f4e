"""`kubectl scipian dev helm list|history|status` against the real Helm 4 with dev's admin
kubeconfig, byte for byte, on releases of this module's own (tests/e2e/helm/world.py).

The plugin runs as alice (a `view` user on dev); helm as the cluster's admin. The only
differences allowed are the redactions: `helm status` without its RESOURCES and NOTES
sections (table) and without config, manifest, hooks, info.notes and info.resources
(json, yaml). HELM_DRIVER is given to both: Helm reads one driver, Scipian both unless told.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.helm import world as w
from tests.e2e.test_plugin_access import login, make_env
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack

STATUS_JSON_REDACTED = ("config", "manifest", "hooks")
INFO_REDACTED = ("notes", "resources")


@pytest.fixture(scope="module")
def world(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[w.World]:
    built = w.build(stack, tmp_path_factory.mktemp("helm-world"))
    yield built
    w.tear_down(stack, built)


@pytest.fixture(scope="module")
def alice(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("alice") / "config"))


def go_json(obj: object) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text + "\n"


def redacted_status(text: str, output: str) -> str:
    """Helm's `status` output after Scipian's redactions (only status has any)."""
    if output == "table":
        text = re.sub(r"(?s)RESOURCES:\n.*?(?=TEST SUITE:)", "", text)
        return re.sub(r"(?s)NOTES:\n.*\Z", "", text)
    doc = json.loads(text) if output == "json" else yaml.safe_load(text)
    for key in STATUS_JSON_REDACTED:
        doc.pop(key, None)
    for key in INFO_REDACTED:
        doc["info"].pop(key, None)
    if output == "json":
        return go_json(doc)
    return yaml.safe_dump(doc)  # compared parsed: see `same`


# (label, helm arguments with {ns} / {cm}, driver)
LIST = [
    ("list", ["list", "-n", "{ns}"]),
    ("list-json", ["list", "-n", "{ns}", "-o", "json"]),
    ("list-yaml", ["list", "-n", "{ns}", "-o", "yaml"]),
    ("list-date", ["list", "-n", "{ns}", "-d"]),
    ("list-date-reverse", ["list", "-n", "{ns}", "-d", "-r"]),
    ("list-reverse", ["list", "-n", "{ns}", "-r"]),
    ("list-filter", ["list", "-n", "{ns}", "--filter", "^t[wh]"]),
    ("list-max", ["list", "-n", "{ns}", "--max", "3"]),
    ("list-offset", ["list", "-n", "{ns}", "--max", "2", "--offset", "2"]),
    ("list-short", ["list", "-n", "{ns}", "-q"]),
    ("list-short-json", ["list", "-n", "{ns}", "-q", "-o", "json"]),
    ("list-no-headers", ["list", "-n", "{ns}", "--no-headers"]),
    ("list-empty", ["list", "-n", "{ns}", "--filter", "^nothing-matches$"]),
    ("list-all-namespaces", ["list", "-A"]),
]
CASES: list[tuple[str, list[str], str]] = [(label, args, "secret") for label, args in LIST]
for name in w.SECRET_RELEASES:
    for fmt in ("table", "json", "yaml"):
        CASES.append(
            (f"history-{name}-{fmt}", ["history", name, "-n", "{ns}", "-o", fmt], "secret")
        )
        CASES.append((f"status-{name}-{fmt}", ["status", name, "-n", "{ns}", "-o", fmt], "secret"))
CASES += [
    ("history-twelve-max", ["history", "twelve", "-n", "{ns}", "--max", "3"], "secret"),
    ("history-twelve-max-json",
     ["history", "twelve", "-n", "{ns}", "--max", "4", "-o", "json"], "secret"),
    ("status-two-revision", ["status", "two", "-n", "{ns}", "--revision", "1"], "secret"),
    ("history-missing", ["history", "missing", "-n", "{ns}"], "secret"),
    ("status-missing", ["status", "missing", "-n", "{ns}"], "secret"),
    ("cm-list", ["list", "-n", "{cm}"], "configmap"),
    ("cm-list-json", ["list", "-n", "{cm}", "-o", "json"], "configmap"),
    ("cm-history", ["history", "shop.cm", "-n", "{cm}"], "configmap"),
    ("cm-history-yaml", ["history", "shop.cm", "-n", "{cm}", "-o", "yaml"], "configmap"),
    ("cm-status", ["status", "shop.cm", "-n", "{cm}"], "configmap"),
    ("cm-status-json", ["status", "shop.cm", "-n", "{cm}", "-o", "json"], "configmap"),
]  # fmt: skip


def output_of(args: list[str]) -> str:
    return args[args.index("-o") + 1] if "-o" in args else "table"


def table_cells(text: str) -> list[list[str]]:
    """A uitable's rows as cells without their padding."""
    return [[cell.rstrip(" ") for cell in line.split("\t")] for line in text.splitlines()]


def uitable(rows: list[list[str]]) -> str:
    """Helm's table layout (gosuri/uitable, as `helm list` uses it): every cell padded to
    its column's widest, cells joined by a tab, a newline after each row."""
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "\t".join(c + " " * (n - width(c)) for c, n in zip(row, widths, strict=True)) + "\n"
        for row in rows
    )


def width(text: str) -> int:
    """Terminal cells (go-runewidth's: wide East Asian runes 2, combining marks 0)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def own_rows(cells: list[list[str]], namespaces: tuple[str, ...]) -> list[list[str]]:
    """The header and the rows of releases in `namespaces` (NAMESPACE is the second column)."""
    return [cells[0], *(row for row in cells[1:] if row[1] in namespaces)]


def same(helm_out: str, ours: str, output: str, sub: str) -> None:
    if sub == "status" and output == "yaml":
        # The expectation was re-serialized after the redaction: compare as data, and the
        # bytes of what is left of helm's own lines (a key: value per line) as well.
        assert yaml.safe_load(ours) == yaml.safe_load(helm_out)
        return
    assert ours == helm_out


@pytest.mark.parametrize(("label", "args", "driver"), CASES, ids=[c[0] for c in CASES])
def test_parity(
    world: w.World, alice: dict[str, str], label: str, args: list[str], driver: str
) -> None:
    argv = [a.format(ns=world.ns, cm=world.cm) for a in args]
    helm = world.helm.run(*argv, driver=driver, check=False)
    ours = run_plugin(["dev", "helm", *argv], {**alice, "HELM_DRIVER": driver})
    assert ours.returncode == helm.returncode, (helm.stderr, ours.stderr)
    if helm.returncode != 0:
        assert ours.stderr == helm.stderr
        return
    expected = helm.stdout
    output = output_of(argv)
    if argv[0] == "status":
        expected = redacted_status(expected, output)
    if label == "list-all-namespaces":
        # Both list every namespace, but at two moments while other tests' releases come
        # and go: compare the header and this module's own rows, byte for byte, each table
        # laid out again alone (a column's width is its widest cell, theirs included); and
        # each whole table laid out exactly as uitable lays out its own cells.
        mine = (world.ns, world.cm)
        expected_cells, ours_cells = table_cells(expected), table_cells(ours.stdout)
        assert uitable(expected_cells) == expected  # the layout below is Helm's
        assert uitable(ours_cells) == ours.stdout
        expected = uitable(own_rows(expected_cells, mine))
        listed = {row[0] for row in own_rows(expected_cells, mine)[1:]}
        assert {"one", "two", "twelve"} <= listed <= set(w.SECRET_RELEASES)
        assert uitable(own_rows(ours_cells, mine)) == expected
    else:
        same(expected, ours.stdout, output, argv[0])
    assert world.secret not in ours.stdout + ours.stderr
    assert ours.stderr == ""


def test_case_count() -> None:
    assert len(CASES) >= 30

"""The helm subcommands' flags: those of Helm 4 that make sense for reading through Scipian."""

from __future__ import annotations

import argparse
from collections.abc import Callable

SUBCOMMANDS = {"list": "list", "ls": "list", "history": "history", "hist": "history"}
SUBCOMMANDS["status"] = "status"
SUBCOMMANDS["rollback"] = "rollback"
FORMATS = ("table", "json", "yaml")


def _output(value: str) -> str:
    if value not in FORMATS:
        raise argparse.ArgumentTypeError(f'invalid argument "{value}": invalid format type')
    return value


def _revision(value: str) -> int:
    if not value.isdigit() or int(value) < 1 or int(value) > 2**31 - 1:
        raise argparse.ArgumentTypeError(f'invalid revision "{value}": a positive integer')
    return int(value)


def build(sub: str, make: Callable[[str, str], argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """The parser of `helm <sub>` (make(prog, description) gives the plugin's Parser)."""
    if sub == "list":
        p = make("list", "List releases: the latest revision of each (Helm's `helm list`).")
        p.add_argument("-A", "--all-namespaces", action="store_true", help="all namespaces")
        p.add_argument("-d", "--date", action="store_true", help="sort by release date")
        p.add_argument("-r", "--reverse", action="store_true", help="reverse the sort order")
        p.add_argument("-f", "--filter", default="", help="a regular expression on names")
        p.add_argument("-m", "--max", type=int, default=256, help="at most this many (0: all)")
        p.add_argument("--offset", type=int, default=0, help="skip this many first")
        p.add_argument("--no-headers", action="store_true", help="no header line")
        p.add_argument("-q", "--short", action="store_true", help="names only")
    elif sub == "history":
        p = make("history", "Revisions of a release (Helm's `helm history`).")
        p.add_argument("release", metavar="RELEASE")
        p.add_argument("--max", type=int, default=256, help="at most this many revisions")
    elif sub == "rollback":
        p = make(
            "rollback",
            "Roll a release back with the real helm and a deploy credential (audited).",
        )
        p.add_argument("release", metavar="RELEASE")
        p.add_argument(
            "revision", metavar="REVISION", nargs="?", type=_revision, default=0,
            help="the revision to roll back to (default: the previous one)",
        )  # fmt: skip
        p.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")
        p.add_argument("--dry-run", action="store_true", help="print the plan only")
        p.add_argument("--wait", action="store_true", help="helm's --wait")
        p.add_argument("--timeout", metavar="D", help="helm's --timeout (e.g. 5m0s)")
        p.add_argument("--helm", metavar="PATH", help="the helm binary (default: helm on PATH)")
        p.add_argument(
            "--break-glass", action="store_true",
            help="on a gated environment: the rollback promotion runs at once, no approval",
        )  # fmt: skip
        p.add_argument(
            "--no-wait", action="store_true",
            help="on a gated environment: exit 3 when the rollback awaits approval",
        )  # fmt: skip
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
        return p
    else:
        p = make("status", "A release's status, without values, manifest or notes.")
        p.add_argument("release", metavar="RELEASE")
        p.add_argument("--revision", type=int, default=0, help="this revision (default: latest)")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    p.add_argument("-o", "--output", type=_output, default="table", help="table, json or yaml")
    return p

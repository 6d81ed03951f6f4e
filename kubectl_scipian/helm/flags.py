"""The helm subcommands' flags: those of Helm 4 that make sense for reading through Scipian."""

from __future__ import annotations

import argparse
from collections.abc import Callable

SUBCOMMANDS = {"list": "list", "ls": "list", "history": "history", "hist": "history"}
SUBCOMMANDS["status"] = "status"
FORMATS = ("table", "json", "yaml")


def _output(value: str) -> str:
    if value not in FORMATS:
        raise argparse.ArgumentTypeError(f'invalid argument "{value}": invalid format type')
    return value


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
    else:
        p = make("status", "A release's status, without values, manifest or notes.")
        p.add_argument("release", metavar="RELEASE")
        p.add_argument("--revision", type=int, default=0, help="this revision (default: latest)")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    p.add_argument("-o", "--output", type=_output, default="table", help="table, json or yaml")
    return p

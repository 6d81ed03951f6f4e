"""Argument parsing and dispatch for `kubectl scipian`."""

from __future__ import annotations

import argparse
import sys

from kubectl_scipian import __version__

PROG = "kubectl scipian"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Short-lived, audited access to the Kubernetes environments Scipian created.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the plugin version")
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"kubectl-scipian {__version__}")
        return 0
    build_parser().print_usage(sys.stderr)
    return 1

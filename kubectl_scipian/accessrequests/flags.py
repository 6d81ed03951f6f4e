"""The command lines of `ENV request`, `requests`, `approve-request`, `deny-request` and
`revoke-request`, and their checks (pure). Every check runs before any backend call: bad
input is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import re
from typing import NamedTuple

from kubectl_scipian.errors import UsageError

LEVELS = ("read", "deploy")
OUTPUTS = ("wide", "json", "yaml")
# The backend's bounds (change.md §9): a window of at least a minute; the Environment's
# spec.maxAccessSeconds (default 4 h) is the backend's to check. The plugin's own upper
# bound keeps the number sane whatever the Environment allows.
MIN_SECONDS, MAX_SECONDS = 60, 30 * 86400
MAX_NAMESPACES = 50
# `<env[:40]>-<read|deploy>-<5 random [a-z0-9]>` (≤ 53); any DNS subdomain is accepted here:
# the name goes into URL paths and printed hint lines, nothing else.
REQUEST_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# Exit codes of `ENV request ... --wait` (README "Access requests").
EXIT_APPROVED, EXIT_NOT_APPROVED, EXIT_BAD_INPUT, EXIT_DETACHED = 0, 1, 2, 130

WAIT_HELP = (
    "wait for a decision (exit 0 Approved; 1 Denied, Expired, Cancelled or Revoked; 130 Ctrl-C)"
)


def add(name: str, parser: argparse.ArgumentParser) -> None:
    """The flags of command `name` on the plugin's parser."""
    if name == "request":
        parser.add_argument("level", nargs="?", metavar="read|deploy", help="the access to ask for")
        parser.add_argument(
            "--for",
            dest="duration",
            metavar="DURATION",
            help="how long, from the approval (30m, 2h, 1h30m)",
        )
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")
        parser.add_argument(
            "-n",
            "--namespace",
            dest="namespaces",
            action="append",
            default=[],
            metavar="NS",
            help="a deploy request's namespace (repeat, or NS,NS; default: all of ENV's)",
        )
        parser.add_argument("--wait", action="store_true", help=WAIT_HELP)
        parser.add_argument(
            "--cancel", metavar="NAME", help="cancel your request NAME instead (--reason optional)"
        )
    elif name == "requests":
        parser.add_argument("name", nargs="?", metavar="NAME", help="one request")
        parser.add_argument("-o", "--output", choices=OUTPUTS, help="wide, json or yaml")
    elif name in ("approve-request", "deny-request", "revoke-request"):
        parser.add_argument("name", metavar="NAME", help="the access request")
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")


class NewRequest(NamedTuple):
    """A new access request as the command line asks for it (checked)."""

    level: str
    duration_seconds: int
    justification: str
    namespaces: list[str]  # [] : the backend's default (every deploy namespace of ENV)


def duration_seconds(text: str | None) -> int:
    """--for: a Go duration ("30m", "2h", "1h30m", "90s") as whole seconds, within bounds.
    A bare number is refused: Go's time.ParseDuration wants a unit, and "2" is not clear."""
    from kubectl_scipian.promotions.flags import seconds_of

    if text is None or not text.strip():
        raise UsageError("request needs --for DURATION (e.g. 30m, 2h, 1h30m)")
    text = text.strip()
    if text.isdigit():
        raise UsageError(f'--for: invalid duration "{text}": missing unit (e.g. {text}m, {text}h)')
    seconds = seconds_of(text, "--for")
    if seconds < MIN_SECONDS:
        raise UsageError(f"--for must be at least 1m (got {text})")
    if seconds > MAX_SECONDS:
        raise UsageError(f"--for must be at most {MAX_SECONDS // 86400} days (got {text})")
    return seconds


def namespaces_of(items: list[str], level: str) -> list[str]:
    """-n NS (repeated or NS,NS): checked, in order, each once; only for a deploy request."""
    out: list[str] = []
    for item in items:
        for ns in item.split(","):
            ns = ns.strip()
            if not ns or len(ns) > 63 or not DNS_LABEL.fullmatch(ns):
                raise UsageError(f"-n: {ns!r} is not a namespace")
            if ns not in out:
                out.append(ns)
    if out and level != "deploy":
        raise UsageError("-n names namespaces of a deploy request; a read request covers ENV")
    if len(out) > MAX_NAMESPACES:
        raise UsageError(f"-n names {len(out)} namespaces; at most {MAX_NAMESPACES}")
    return out


def reason_of(given: str | None, command: str, optional: bool = False) -> str:
    """--reason (or SCIPIAN_REASON) as the backend takes a justification; "" only when
    `optional` and none was given."""
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    if not (given or "").strip():
        if optional:
            return ""
        raise UsageError(f"{command} needs --reason TEXT (or {REASON_VAR}): why")
    return check_reason(given)


def new_request(opts: argparse.Namespace, reason: str | None) -> NewRequest:
    """`ENV request LEVEL --for D --reason R [-n NS]`, checked (reason: the flag's or
    SCIPIAN_REASON)."""
    if opts.level is None:
        raise UsageError("request needs read or deploy (or --cancel NAME)")
    if opts.level not in LEVELS:
        raise UsageError(f"request takes read or deploy, not {opts.level!r}")
    seconds = duration_seconds(opts.duration)
    namespaces = namespaces_of(opts.namespaces, opts.level)
    justification = reason_of(reason, "request")
    return NewRequest(opts.level, seconds, justification, namespaces)


def cancel_conflicts(opts: argparse.Namespace) -> str | None:
    """What --cancel NAME may not be combined with (a flag of a new request), or None."""
    if opts.level is not None:
        return str(opts.level)
    for flag, given in (("--for", opts.duration), ("-n", opts.namespaces), ("--wait", opts.wait)):
        if given:
            return flag
    return None


def check_name(name: str) -> str:
    """An access request's name as given on the command line (it goes into a URL path)."""
    if not name or len(name) > 63 or not REQUEST_NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not an access request name")
    return name

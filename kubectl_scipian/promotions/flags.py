"""The command lines of `promote`, `promotions`, `approve` and `cancel`, and their checks
(pure). Every check here runs before any backend call or helm run: bad input is one line,
exit 2.
"""

from __future__ import annotations

import argparse
import re
from typing import NamedTuple

from kubectl_scipian.errors import UsageError

MAX_STEPS = 10  # the backend's bound on a chain
SOAK_MAX = 86400
TIMEOUT_MIN, TIMEOUT_MAX, TIMEOUT_DEFAULT = 30, 3600, 300
ENV_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PROMOTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# Go's time.ParseDuration units that make sense here (helm's --timeout takes the same).
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
OUTPUTS = ("wide", "json", "yaml")
ALL = "*"  # the values/sets of every environment, in the create body

# Exit codes of `promote` and `promotions NAME --watch` (README "Promotions").
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_AWAITING_APPROVAL, EXIT_CANCELLED, EXIT_DETACHED = 3, 4, 130


def add(name: str, parser: argparse.ArgumentParser) -> None:
    """The flags of command `name` on the plugin's parser."""
    if name == "promote":
        parser.add_argument("release", nargs="?", metavar="RELEASE", help="the Helm release")
        parser.add_argument("-n", "--namespace", metavar="NS", help="the release's namespace")
        parser.add_argument("--chart", metavar="CHART", help="a chart directory or .tgz")
        parser.add_argument("--version", metavar="V", help="check the chart's version (Chart.yaml)")
        parser.add_argument("--through", metavar="ENV,ENV...", help="the environments, in order")
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")
        parser.add_argument(
            "-f", "--values", action="append", default=[], metavar="F", help="values for every env"
        )
        parser.add_argument(
            "--values-for",
            action="append",
            default=[],
            metavar="ENV=F",
            help="values for one environment (after --values)",
        )
        parser.add_argument(
            "--set", action="append", default=[], metavar="K=V", help="helm --set, every env"
        )
        parser.add_argument(
            "--set-for",
            action="append",
            default=[],
            metavar="ENV=K=V",
            help="helm --set for one environment (after --set)",
        )
        parser.add_argument("--soak", metavar="DURATION", help="time each step must stay healthy")
        parser.add_argument(
            "--timeout", metavar="DURATION", help="helm --timeout and each step's deadline (5m)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print the plan and digests (.tgz only)"
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help=f"at a step awaiting approval, exit {EXIT_AWAITING_APPROVAL}",
        )
        parser.add_argument(
            "--helm", metavar="PATH", help="the helm that packages a chart directory"
        )
        parser.add_argument("--resume", metavar="NAME", help=argparse.SUPPRESS)  # retired
    elif name == "promotions":
        parser.add_argument("name", nargs="?", metavar="NAME", help="one promotion")
        parser.add_argument("--diff", metavar="ENV", help="what step ENV changes")
        parser.add_argument("-o", "--output", choices=OUTPUTS, help="wide, json or yaml")
        parser.add_argument(
            "-w", "--watch", action="store_true", help="follow NAME until it finishes"
        )
    elif name == "approve":
        parser.add_argument("name", metavar="NAME", help="the promotion")
        parser.add_argument("--step", metavar="ENV", required=True, help="the step's environment")
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")
        parser.add_argument(
            "--diff-digest",
            metavar="D",
            help="the digest of the diff you read (needed without a terminal)",
        )
    elif name == "cancel":
        parser.add_argument("name", metavar="NAME", help="the promotion")
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")


class Request(NamedTuple):
    """A new promotion as the command line asks for it (checked)."""

    release: str
    namespace: str
    chart: str
    version: str  # "" when not given
    through: list[str]
    values: list[str]
    values_for: dict[str, list[str]]
    sets: list[str]
    sets_for: dict[str, list[str]]
    soak_seconds: int
    timeout_seconds: int


def through_of(text: str | None) -> list[str]:
    if not text:
        raise UsageError("promote needs --through ENV,ENV,... (the environments, in order)")
    envs = [e.strip() for e in text.split(",")]
    for env in envs:
        if not env or len(env) > 63 or not ENV_ID.fullmatch(env):
            raise UsageError(f"--through: {env!r} is not an environment id")
    if len(set(envs)) != len(envs):
        raise UsageError(f"--through names an environment twice: {text}")
    if len(envs) > MAX_STEPS:
        raise UsageError(f"--through names {len(envs)} environments; at most {MAX_STEPS}")
    return envs


def per_env_of(items: list[str], through: list[str], flag: str, what: str) -> dict[str, list[str]]:
    """ENV=VALUE items of a per-environment flag, grouped by environment, in order."""
    out: dict[str, list[str]] = {}
    for item in items:
        env, sep, value = item.partition("=")
        if not sep or not env or not value:
            raise UsageError(f"{flag} takes ENV={what}, not {item!r}")
        if env not in through:
            raise UsageError(f"{flag} {env}: {env} is not in --through")
        out.setdefault(env, []).append(value)
    return out


def values_for_of(items: list[str], through: list[str]) -> dict[str, list[str]]:
    return per_env_of(items, through, "--values-for", "FILE")


def check_sets(items: list[str], flag: str) -> None:
    for item in items:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"{flag} takes KEY=VALUE, not {item!r}")


def seconds_of(text: str, flag: str) -> int:
    """A Go duration ("90s", "5m", "1h30m") or plain seconds, as whole seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    pos, total = 0, 0.0
    for m in DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise UsageError(f'{flag}: invalid duration "{text}" (e.g. 90s, 5m, 1h30m)')
    return int(total)


def request_of(opts: argparse.Namespace) -> Request:
    """A new promotion's checked request."""
    if not opts.release:
        raise UsageError("promote needs RELEASE")
    if len(opts.release) > 53 or not DNS_SUBDOMAIN.fullmatch(opts.release):
        raise UsageError(f"{opts.release!r} is not a valid release name")
    namespace = opts.namespace or "default"
    if len(namespace) > 63 or not DNS_LABEL.fullmatch(namespace):
        raise UsageError(f"{namespace!r} is not a valid namespace")
    if not opts.chart:
        raise UsageError("promote needs --chart CHART (a chart directory or .tgz)")
    through = through_of(opts.through)
    soak = seconds_of(opts.soak, "--soak") if opts.soak else 0
    if soak > SOAK_MAX:
        raise UsageError(f"--soak is longer than {SOAK_MAX}s")
    timeout = seconds_of(opts.timeout, "--timeout") if opts.timeout else TIMEOUT_DEFAULT
    if not TIMEOUT_MIN <= timeout <= TIMEOUT_MAX:
        raise UsageError(f"--timeout must be between {TIMEOUT_MIN}s and {TIMEOUT_MAX}s")
    check_sets(opts.set, "--set")
    sets_for = per_env_of(opts.set_for, through, "--set-for", "KEY=VALUE")
    for env_sets in sets_for.values():
        check_sets(env_sets, "--set-for")
    return Request(
        release=opts.release,
        namespace=namespace,
        chart=opts.chart,
        version=opts.version or "",
        through=through,
        values=list(opts.values),
        values_for=values_for_of(opts.values_for, through),
        sets=list(opts.set),
        sets_for=sets_for,
        soak_seconds=soak,
        timeout_seconds=timeout,
    )


def check_name(name: str) -> str:
    """A promotion's name as given on the command line (it goes into a URL path)."""
    if not name or len(name) > 63 or not PROMOTION_NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a promotion name")
    return name


def check_env(env: str, flag: str) -> str:
    if not env or len(env) > 63 or not ENV_ID.fullmatch(env):
        raise UsageError(f"{flag}: {env!r} is not an environment id")
    return env


def check_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise UsageError(f"--diff-digest: {digest!r} is not sha256:<64 hex>")
    return digest

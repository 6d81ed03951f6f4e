"""kubectl's command-line forms: pflag-style flags and the resource argument forms."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NamedTuple

from kubectl_scipian.read.errors import UsageError


def _formatter(prog: str) -> argparse.HelpFormatter:
    # A fixed width: these parsers never print help (read/help.py writes it from their
    # flags), and argparse would otherwise import shutil for the terminal's width on every
    # add_argument.
    return argparse.HelpFormatter(prog, width=80)


class FlagParser(argparse.ArgumentParser):
    """argparse that reports errors in pflag's words instead of exiting."""

    def __init__(self, verb: str) -> None:
        super().__init__(
            prog=f"kubectl {verb}", add_help=False, allow_abbrev=False, formatter_class=_formatter
        )
        self.verb = verb

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(self._pflag_message(message))

    def _pflag_message(self, message: str) -> str:
        see = f"See 'kubectl {self.verb} --help' for usage."
        if message.startswith("argument ") and "expected one argument" in message:
            flag = message.split(":")[0].removeprefix("argument ").split("/")[0]
            short = flag.lstrip("-")
            if flag.startswith("--"):
                return f"error: flag needs an argument: --{short}\n{see}"
            return f"error: flag needs an argument: '{short}' in -{short}\n{see}"
        if message.startswith("argument ") and "invalid int value" in message:
            flag = message.split(":")[0].removeprefix("argument ").split("/")[-1]
            value = message.rsplit(":", 1)[-1].strip().strip("'")
            return (
                f'error: invalid argument "{value}" for "{flag}" flag: strconv.ParseInt: '
                f'parsing "{value}": invalid syntax\n{see}'
            )
        return f"error: {message}\n{see}"

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        ns, rest = self.parse_known_args(_split_equals(argv))
        positionals = []
        for a in rest:
            if a.startswith("--") and len(a) > 2:
                flag = a.split("=")[0]
                raise UsageError(
                    f"error: unknown flag: {flag}\nSee 'kubectl {self.verb} --help' for usage."
                )
            if a.startswith("-") and len(a) > 1:
                raise UsageError(
                    f"error: unknown shorthand flag: '{a[1]}' in {a}\n"
                    f"See 'kubectl {self.verb} --help' for usage."
                )
            positionals.append(a)
        ns.args = positionals
        return ns


def _split_equals(argv: Sequence[str]) -> list[str]:
    """pflag accepts `-n=x`; argparse would keep the `=`."""
    out: list[str] = []
    for a in argv:
        if len(a) > 2 and a[0] == "-" and a[1] != "-" and a[2] == "=":
            out += [a[:2], a[3:]]
        else:
            out.append(a)
    return out


class Request(NamedTuple):
    """One resource argument: a type, with a name or not (a list)."""

    type: str
    name: str | None


def resource_requests(args: Sequence[str], verb: str) -> list[Request]:
    """kubectl's forms: `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME ...`."""
    if not args:
        raise UsageError("")
    slashed = [a for a in args if "/" in a]
    if slashed:
        if len(slashed) != len(args):
            raise UsageError(
                "error: there is no need to specify a resource type as a separate argument "
                f"when passing arguments in resource/name form (e.g. 'kubectl {verb} "
                f"resource/<resource_name>' instead of 'kubectl {verb} resource "
                "resource/<resource_name>'"
            )
        out = []
        for a in args:
            t, _, name = a.partition("/")
            if not t or not name:
                raise UsageError(
                    "error: arguments in resource/name form must have a single resource and name"
                )
            out.append(Request(t, name))
        return out
    types = [t for t in args[0].split(",") if t]
    names = list(args[1:])
    if not names:
        return [Request(t, None) for t in types]
    return [Request(t, n) for t in types for n in names]

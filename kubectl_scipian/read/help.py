"""`kubectl scipian ENV get|describe|logs -h`: kubectl's usage line and the flags we honour,
written from the verbs' parsers (read/flags.py), so that it lists exactly what is parsed.

Printed without a credential or a request: help must work before login.
"""

from __future__ import annotations

import argparse

from kubectl_scipian.read.flags import PARSERS

SUMMARY = {
    "get": (
        "Display one or many resources, as `kubectl get` does.",
        "kubectl scipian ENV get [(-o|--output=)json|yaml|name|wide|custom-columns=...|"
        "jsonpath=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | "
        "TYPE[.VERSION][.GROUP]/NAME ...) [flags]",
    ),
    "describe": (
        "Show details of a specific resource or group of resources, as `kubectl describe` does.",
        "kubectl scipian ENV describe (TYPE [NAME_PREFIX | -l label] | TYPE/NAME) [flags]",
    ),
    "logs": (
        "Print the logs for a container in a pod or specified resource, as `kubectl logs` does.",
        "kubectl scipian ENV logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER] [flags]",
    ),
}
FLAG_COLUMN = 32


def text(verb: str) -> str:
    summary, usage = SUMMARY[verb]
    options = [a for a in PARSERS[verb]()._actions if a.help != argparse.SUPPRESS]
    lines = [_line(a) for a in sorted(options, key=_long_name)]
    return f"{summary}\n\nUsage:\n  {usage}\n\nOptions:\n" + "".join(lines)


def _long_name(action: argparse.Action) -> str:
    return next(o for o in action.option_strings if o.startswith("--"))


def _line(action: argparse.Action) -> str:
    """kubectl's form: `  -o, --output='': ...`, the default shown as kubectl shows it."""
    short = next((o for o in action.option_strings if not o.startswith("--")), None)
    flag = f"  {short}, " if short else "      "
    flag += _long_name(action)
    if action.nargs != 0:  # takes a value
        flag += f"={action.metavar if action.metavar is not None else _shown(action.default)}"
    return f"{flag:<{FLAG_COLUMN - 1}} {action.help}\n"


def _shown(default: object) -> str:
    if default is None or default == "":
        return "''"
    if isinstance(default, list):
        return "[]"
    return str(default)

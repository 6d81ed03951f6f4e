"""What a read's kubectl flags mean for reading several environments: the output format
picks how the outputs are merged (kubectl_scipian.fanout.merge), and some flags cannot be
merged at all."""

from __future__ import annotations

from collections.abc import Sequence

from kubectl_scipian.fanout.selection import SelectionError

OBJECT_FORMATS = ("json", "yaml")
TABLE_FORMATS = ("", "wide", "custom-columns")


def mode(verb: str, argv: Sequence[str]) -> str:
    """ "table", "objects", "sections" or "watch": how the environments' outputs are merged."""
    if verb != "get":
        if verb == "logs" and has_flag(argv, "-f", "--follow"):
            raise SelectionError("logs -f follows one environment at a time")
        return "sections"
    kind = output_format(argv).partition("=")[0]
    if has_flag(argv, "-w", "--watch", "--watch-only"):
        if kind not in TABLE_FORMATS:
            raise SelectionError(
                "get --watch across environments prints a table, -o wide or custom-columns"
            )
        return "watch"
    if kind in OBJECT_FORMATS:
        return "objects"
    if kind in TABLE_FORMATS:
        return "table"
    raise SelectionError(
        f"output format {kind!r} is not supported across environments "
        "(use a table, wide, custom-columns, json or yaml)"
    )


def output_format(argv: Sequence[str]) -> str:
    """The value of the last -o/--output flag (kubectl's rule), "" when none."""
    value = ""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if arg in ("-o", "--output") and i + 1 < len(argv):
            value = argv[i + 1]
            i += 1
        elif arg.startswith("--output="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-o") and not arg.startswith("--"):
            value = arg[2:].removeprefix("=")
        i += 1
    return value


def with_output(argv: Sequence[str], value: str) -> list[str]:
    """argv with its -o flags replaced by one `-o value`."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg in ("-o", "--output") and i + 1 < len(argv):
            i += 2
            continue
        if arg.startswith("--output=") or (arg.startswith("-o") and not arg.startswith("--")):
            i += 1
            continue
        out.append(arg)
        i += 1
    return [*out, "-o", value]


def has_flag(argv: Sequence[str], *names: str) -> bool:
    for arg in argv:
        if arg == "--":
            return False
        name, _, value = arg.partition("=")
        if name in names and value.lower() not in ("false", "0"):
            return True
    return False

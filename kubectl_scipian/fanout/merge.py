"""Several environments in one read command, the pure parts: names, flags, merging outputs.

    dev,prod          these environments, in this order
    @team-a           the group `team-a` of config.json: {"groups": {"team-a": ["dev", "prod"]}}
    @all              every environment the backend lets you use (GET /api/v1/environments)

How each verb's outputs are joined (`commands/multienv.py` runs the environments):

    get (tables, -o wide, custom-columns)   one table per kind, an ENV column first
    get -o json|yaml                         one List, each item annotated
                                             scipian.io/environment: <env>
    describe, logs                           a section per environment, headed `==> env <==`
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_scipian.errors import ConfigError, ScipianError

ANNOTATION = "scipian.io/environment"
ALL = "@all"


class SelectionError(ScipianError):
    exit_code = 2


def resolve(
    spec: str,
    groups: Mapping[str, object],
    all_envs: Callable[[], list[str]],
) -> list[str]:
    """The environments named by `dev,prod,@group`, first mention first, each once."""
    found: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise SelectionError(f"empty environment name in {spec!r}")
        if part == ALL:
            names = all_envs()
        elif part.startswith("@"):
            members = groups.get(part[1:])
            if members is None:
                raise SelectionError(
                    f'unknown group {part!r}: define it in config.json as "groups": '
                    f'{{"{part[1:]}": ["dev", "prod"]}} (or use @all)'
                )
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ConfigError(f"config.json: group {part[1:]!r} must be a list of names")
            names = list(members)
        else:
            names = [part]
        found += [n for n in names if n not in found]
    return found


def config_groups(file: Mapping[str, object]) -> Mapping[str, object]:
    groups = file.get("groups", {})
    if not isinstance(groups, dict):
        raise ConfigError('config.json: "groups" must be an object of name -> [environments]')
    return groups


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


@dataclass
class EnvResult:
    """What one environment's read produced, captured for joining."""

    env: str
    status: int = 0
    stdout: bytes = b""
    stderr: str = ""
    tables: list[list[list[str]]] = field(default_factory=list)
    error: str | None = None  # the environment failed before reading (credentials)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status != 0


def join_tables(results: Iterable[EnvResult], *, no_headers: bool) -> list[list[list[str]]]:
    """One table per kind (tables with the same header), an ENV column first."""
    joined: dict[object, list[list[str]]] = {}
    for result in results:
        for index, lines in enumerate(result.tables):
            if not lines:
                continue
            if no_headers:
                key: object = index
                rows = lines
            else:
                key = tuple(lines[0])
                rows = lines[1:]
            if key not in joined:
                joined[key] = [] if no_headers else [["ENV", *lines[0]]]
            joined[key] += [[result.env, *row] for row in rows]
    return list(joined.values())


def join_objects(results: Iterable[EnvResult]) -> dict[str, Any]:
    """One List of every environment's objects, each annotated with its environment."""
    items: list[Any] = []
    for result in results:
        if not result.stdout.strip():
            continue
        doc = json.loads(result.stdout)
        found = doc.get("items") if doc.get("kind") == "List" else [doc]
        for item in found or []:
            if isinstance(item, dict):
                metadata = item.setdefault("metadata", {})
                annotations = metadata.get("annotations") or {}
                metadata["annotations"] = {**annotations, ANNOTATION: result.env}
                items.append(item)
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def section_header(env: str) -> bytes:
    return f"==> {env} <==\n".encode()


NO_RESOURCES = "No resources found"


def error_lines(result: EnvResult, *, drop_no_resources: bool) -> list[str]:
    """The environment's messages, each as `<env>: <line>`."""
    if result.error is not None:
        return [f"{result.env}: {result.error}"]
    lines = result.stderr.splitlines()
    if drop_no_resources:
        lines = [line for line in lines if not line.startswith(NO_RESOURCES)]
    return [f"{result.env}: {line}" for line in lines if line]

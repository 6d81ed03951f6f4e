"""Several environments' outputs merged into one, in the order they were named.

    get (tables, -o wide, custom-columns)   one table per kind, an ENV column first
    get -o json|yaml                         one List, each item annotated
                                             scipian.io/environment: <env>
    describe, logs                           a section per environment, headed `==> env <==`

Each environment's failures follow on stderr as `<env>: <line>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from kubectl_scipian.fanout.flags import has_flag, output_format

ANNOTATION = "scipian.io/environment"


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


def write(
    results: list[EnvResult], mode: str, argv: Sequence[str], out: BinaryIO, err: TextIO
) -> None:
    """The merged output on `out`, then every environment's messages on `err`."""
    wrote = False
    if mode == "table":
        from kubectl_scipian.read.printers.table import render

        tables = join_tables(results, no_headers=has_flag(argv, "--no-headers"))
        for i, lines in enumerate(tables):
            out.write(("\n" if i else "").encode() + render(lines).encode())
            wrote = True
    elif mode == "objects":
        from kubectl_scipian.read.printers.jsonyaml import to_json, to_yaml

        doc = join_objects(r for r in results if not r.error)
        if doc["items"] or not all(r.failed for r in results):  # kubectl prints empty Lists
            kind = output_format(argv).partition("=")[0]
            out.write((to_json(doc) if kind == "json" else to_yaml(doc)).encode())
            wrote = True
    else:
        for result in results:
            if result.stdout:
                out.write((b"\n" if wrote else b"") + section_header(result.env))
                out.write(result.stdout if result.stdout.endswith(b"\n") else result.stdout + b"\n")
                wrote = True
    out.flush()
    drop = mode != "sections"
    messages = [m for r in results for m in error_lines(r, drop_no_resources=drop)]
    if mode == "table" and not wrote and not any(r.failed for r in results):
        messages.append(NO_RESOURCES)
    for line in messages:
        print(line, file=err)

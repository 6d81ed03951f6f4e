"""A promotion's values files and --set items: the create body's `values` and `set`, and
each step's values digest as the backend computes it (promotions/values.py there: the
files of "*" then the step's own, then the sets likewise, in order), so that --dry-run
prints the digests the promotion will record."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from kubectl_scipian.errors import UsageError
from kubectl_scipian.promotions.flags import ALL, Request

MAX_BASE64 = 96 * 1024  # values and sets, base64 text in all (the create route's bound)
# A values file travels by its base name, which the backend takes only in this shape.
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StepInputs(NamedTuple):
    files: list[tuple[str, bytes]]  # (name, content)
    sets: list[str]


def read_files(paths: list[str]) -> list[tuple[str, bytes]]:
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BASE64 + 1)
        except OSError as err:
            raise UsageError(f"values file {path}: {err.strerror or 'unreadable'}") from None
        if len(data) > MAX_BASE64:
            raise UsageError(f"values file {path}: larger than {MAX_BASE64} bytes")
        name = Path(path).name
        if not FILE_NAME.fullmatch(name):
            raise UsageError(f"values file {path}: its name must match {FILE_NAME.pattern}")
        out.append((name, data))
    return out


class Inputs(NamedTuple):
    """The files and sets per key ("*" or an environment), read once."""

    files: dict[str, list[tuple[str, bytes]]]
    sets: dict[str, list[str]]


def inputs_of(request: Request) -> Inputs:
    files: dict[str, list[tuple[str, bytes]]] = {}
    sets: dict[str, list[str]] = {}
    if request.values:
        files[ALL] = read_files(request.values)
    for env, paths in request.values_for.items():
        files[env] = read_files(paths)
    if request.sets:
        sets[ALL] = list(request.sets)
    for env, items in request.sets_for.items():
        sets[env] = list(items)
    return Inputs(files, sets)


def body_parts(inputs: Inputs) -> dict[str, Any]:
    """The create body's `values` and `set` (absent when empty), within MAX_BASE64."""
    out: dict[str, Any] = {}
    values = {
        key: [{"name": n, "contentBase64": base64.b64encode(d).decode("ascii")} for n, d in files]
        for key, files in inputs.files.items()
    }
    if values:
        out["values"] = values
    if inputs.sets:
        out["set"] = {key: list(items) for key, items in inputs.sets.items()}
    size = sum(len(v["contentBase64"]) for files in values.values() for v in files)
    size += sum(len(s) for items in inputs.sets.values() for s in items)
    if size > MAX_BASE64:
        raise UsageError(
            f"values and --set come to {size} bytes of base64; the backend takes {MAX_BASE64}"
        )
    return out


def step_inputs(inputs: Inputs, env: str) -> StepInputs:
    """ "*" first, then the environment's own, in order (helm: the last one wins)."""
    return StepInputs(
        [*inputs.files.get(ALL, []), *inputs.files.get(env, [])],
        [*inputs.sets.get(ALL, []), *inputs.sets.get(env, [])],
    )


def canonical(step: StepInputs) -> bytes:
    """The bytes a step's digest is of, as the backend's promotions/values.py makes them:
    sorted-key JSON of each file's name and sha256, in order, and the sets."""
    doc = {
        "files": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in step.files
        ],
        "sets": list(step.sets),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def inputs_digest(step: StepInputs) -> str:
    return "sha256:" + hashlib.sha256(canonical(step)).hexdigest()


def digests(inputs: Inputs, through: list[str]) -> dict[str, str]:
    return {env: inputs_digest(step_inputs(inputs, env)) for env in through}

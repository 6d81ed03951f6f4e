"""The shell-sourceable `.stack/env` that tests, the demo and people read."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from tests.stack.paths import stack_dir


def env_path() -> Path:
    return stack_dir() / "env"


def write(values: dict[str, str]) -> None:
    path = env_path()
    lines = ["# Written by scripts/stack up; source it in a shell."]
    lines += [f"{k}={shlex.quote(v)}" for k, v in values.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)  # holds the stack's password
    tmp.replace(path)


def read() -> dict[str, str]:
    out: dict[str, str] = {}
    path = env_path()
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value)
        out[key] = parts[0] if parts else ""
    return out

"""Chart uploads for e2e tests (change.md §5 "Upload"): write a small chart, package it with
the stack's real Helm 4, and PUT it to a backend over plain HTTP, as a hostile client would.

    chart = write_chart(tmp_path / "c", "web", "0.1.0", {"cm.yaml": CONFIGMAP})
    archive = package(stack, chart, tmp_path)             # bytes of the .tgz
    up = upload(url, token, archive, ["dev", "staging"])  # requests.Response
    up.json()  # {"digest": "sha256:…", "name": "web", "version": "0.1.0", ...}
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from tests.stack.releases import helm_env

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
data:
  value: {{ .Values.value | default "one" | quote }}
"""


def digest(data: bytes) -> str:
    """The chart identity: sha256 of the archive bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_chart(
    where: Path,
    name: str,
    version: str,
    templates: Mapping[str, str] | None = None,
    values: str = "",
    files: Mapping[str, bytes | str] | None = None,
) -> Path:
    """A chart directory: Chart.yaml, values.yaml, templates/ (default: one ConfigMap) and
    any other `files` (relative paths, e.g. "values.schema.json")."""
    (where / "templates").mkdir(parents=True, exist_ok=True)
    (where / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (where / "values.yaml").write_text(values)
    for file, text in (templates if templates is not None else {"cm.yaml": CONFIGMAP}).items():
        (where / "templates" / file).write_text(text)
    for rel, content in (files or {}).items():
        path = where / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return where


def package(stack_env: Mapping[str, str], chart_dir: Path, out_dir: Path) -> bytes:
    """`helm package` with the stack's Helm 4 (STACK_HELM), in a private home; the bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    home = out_dir / ".helm-home"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        [stack_env["STACK_HELM"], "package", str(chart_dir), "-d", str(out_dir)],
        env=helm_env(home, Path(os.devnull)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"helm package failed: {done.stderr.strip()[:300]}")
    path = Path(done.stdout.strip().rsplit(" ", 1)[-1])
    return path.read_bytes()


def upload(
    url: str,
    token: str | None,
    data: bytes,
    through: Sequence[str],
    *,
    ref: str | None = None,
    content_type: str = "application/gzip",
    headers: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    """PUT /api/v1/charts/<ref>?through=… (ref defaults to the data's digest)."""
    s = session or requests.Session()
    s.trust_env = False
    sent: dict[str, str] = {"Content-Type": content_type, **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return s.put(
        f"{url}/api/v1/charts/{ref or digest(data)}",
        params={"through": ",".join(through)},
        data=data,
        headers=sent,
        timeout=120,
    )


def upload_chart(
    url: str,
    token: str,
    stack_env: Mapping[str, str],
    chart_dir: Path,
    through: Sequence[str],
    out_dir: Path,
) -> dict[str, Any]:
    """Package and upload; the backend's answer ({"digest", "name", "version", ...}),
    AssertionError unless it stored the archive (200 or 201)."""
    data = package(stack_env, chart_dir, out_dir)
    resp = upload(url, token, data, through)
    assert resp.status_code in (200, 201), (resp.status_code, resp.text[:300])
    body: dict[str, Any] = resp.json()
    assert body["digest"] == digest(data)
    return body

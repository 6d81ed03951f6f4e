"""What the attack and hostile-chart tests add to world.py: charts built byte by byte (no
helm), an ordinary deploy credential of the attacker's own, Helm records written by hand,
Environments and grants of a test's own, and the stack's backend processes' memory."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Stack
from tests.e2e.promotions.world import NAMESPACE, Api, Archive
from tests.stack import procs
from tests.stack.backend_daemon import admin_cli

MB = 1024 * 1024


def archive(where: Path, name: str, version: str, files: Mapping[str, bytes | str]) -> Archive:
    """A chart .tgz of exactly these files under `name/` (fixed times: the same bytes on
    every run), written to `where`. Its Chart.yaml is made from name and version unless
    `files` has one."""
    out = io.BytesIO()
    entries = {"Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n", **files}
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for rel, data in sorted(entries.items()):
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"{name}/{rel}")
            info.size, info.mode, info.mtime = len(raw), 0o644, 0
            tar.addfile(info, io.BytesIO(raw))
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}-{version}-{uuid.uuid4().hex[:6]}.tgz"
    path.write_bytes(out.getvalue())
    return Archive(path, name, version)


def deploy_kubeconfig(api: Api, token: str, env: str, directory: Path) -> Path:
    """The caller's ordinary deploy credential on `env`, in a 0600 file."""
    got = api.call(
        "POST",
        f"/api/v1/environments/{env}/kubeconfig",
        token,
        {"level": "deploy", "justification": "attack test"},
    )
    assert got.status_code == 200, got.text
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{env}-{uuid.uuid4().hex[:6]}.kubeconfig"
    path.write_text(got.json()["kubeconfig"])
    path.chmod(0o600)
    return path


def record_object(kind: str, release: str, revision: int) -> dict[str, Any]:
    """A forged `sh.helm.release.v1.REL.vN` record with an empty manifest, as a Secret of
    Helm's type or as a ConfigMap (version 1 read both)."""
    doc = {
        "name": release,
        "namespace": NAMESPACE,
        "version": revision,
        "info": {"status": "deployed"},
        "chart": {"metadata": {"apiVersion": "v2", "name": "shop-web", "version": "1.2.0"}},
        "config": {},
        "manifest": "",
    }
    payload = base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "namespace": NAMESPACE,
            "labels": {
                "owner": "helm",
                "name": release,
                "version": str(revision),
                "status": "deployed",
            },
        },
    }
    if kind == "Secret":
        obj["type"] = "helm.sh/release.v1"
        obj["data"] = {"release": base64.b64encode(payload.encode()).decode()}
    else:
        obj["data"] = {"release": payload}
    return obj


def release_records(stack: Stack, cluster: str, release: str) -> list[str]:
    """Helm's records of `release` in shop on `cluster`, as its admin sees them."""
    out = stack.kubectl(
        cluster, "get", "secrets", "-n", NAMESPACE, "-l", f"owner=helm,name={release}",
        "-o", "name",
    )  # fmt: skip
    return out.stdout.split()


def backend_pids() -> list[int]:
    """The stack's backend processes (their pid files)."""
    return [pid for name, pid in procs.tracked().items() if name.startswith("backend")]


def rss(pid: int) -> int:
    """VmRSS of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def apply(stack: Stack, cluster: str, items: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    stack.kubectl(cluster, "apply", "-f", "-", input=doc)


def delete(stack: Stack, cluster: str, items: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    stack.kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "-f", "-", input=doc)


@contextmanager
def environment(stack: Stack, name: str, cluster: str) -> Iterator[str]:
    """An Environment of the test's own on `cluster`, deploy namespace `shop`."""
    out = admin_cli(
        "register",
        f"--name={name}",
        f"--kubeconfig={stack.kubeconfig(cluster)}",
        f"--description=promotion attack test ({name})",
        f"--deploy-namespace={NAMESPACE}",
    )
    assert out.returncode == 0, out.stderr
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "environment", name, "--wait=false", check=False)


def set_approvals(stack: Stack, name: str, required: int) -> None:
    """The Environment's `spec.deploy.approvals.required`, as its admin edits it on mgmt."""
    patch = {"spec": {"deploy": {"approvals": {"required": required}}}}
    stack.kubectl("mgmt", "patch", "environment", name, "--type=merge", "-p", json.dumps(patch))

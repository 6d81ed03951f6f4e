"""What the attack and hostile-chart tests share: charts built byte by byte (no helm), the
upload and create routes called as a hostile client would, an ordinary deploy credential
of the attacker's own, helm records written by hand, and the stack's environments and
grants of a test's own (registered on a target, removed afterwards)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.conftest import Stack
from tests.e2e.promotions.world import NAMESPACE, Api
from tests.stack import procs
from tests.stack.backend_daemon import admin_cli
from tests.stack.releases import CHART

BOUND = 150.0  # seconds: a bound on polling a promotion, not a timing assertion
FINISHED = ("Succeeded", "Failed", "Cancelled")
MB = 1024 * 1024


# --- charts ----------------------------------------------------------------------------


def archive(files: Mapping[str, bytes | str], top: str = "shop-web") -> bytes:
    """A chart .tgz of exactly these files under `top/` (fixed times: same bytes each run)."""
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data in sorted(files.items()):
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode, info.mtime = len(raw), 0o644, 0
            tar.addfile(info, io.BytesIO(raw))
    return out.getvalue()


def shop_web_files(version: str, **values: Any) -> dict[str, bytes | str]:
    """tests/charts/shop-web at `version`, values.yaml overridden by `values`."""
    files: dict[str, bytes | str] = {}
    for path in sorted(CHART.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(CHART))] = path.read_bytes()
    meta = yaml.safe_load(files["Chart.yaml"])
    meta.update(version=version, appVersion=version.rsplit(".", 1)[0])
    files["Chart.yaml"] = yaml.safe_dump(meta)
    if values:
        doc = yaml.safe_load(files["values.yaml"])
        doc.update(values)
        files["values.yaml"] = yaml.safe_dump(doc)
    return files


def chart_meta(data: bytes, name: str = "shop-web", version: str = "1.2.0") -> dict[str, str]:
    return {"digest": digest(data), "name": name, "version": version}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- the API, as a hostile client --------------------------------------------------------


def upload(api: Api, token: str, data: bytes, through: list[str]) -> requests.Response:
    return api.session.put(
        f"{api.url}/api/v1/charts/{digest(data)}",
        params={"through": ",".join(through)},
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"},
        data=data,
        timeout=120,
    )


def create(
    api: Api,
    token: str,
    release: str,
    data: bytes,
    through: list[str],
    *,
    version: str = "1.2.0",
    soak: int = 0,
    timeout: int = 60,
    values: dict[str, list[tuple[str, str]]] | None = None,
    sets: dict[str, list[str]] | None = None,
    namespace: str = NAMESPACE,
) -> requests.Response:
    """Uploads `data` (when it is not stored yet) and creates the promotion."""
    up = upload(api, token, data, through)
    assert up.status_code in (200, 201), up.text
    body: dict[str, Any] = {
        "release": release,
        "namespace": namespace,
        "chart": chart_meta(data, version=version),
        "through": through,
        "justification": f"test {release}",
        "soakSeconds": soak,
        "timeoutSeconds": timeout,
    }
    if values:
        body["values"] = {
            scope: [
                {"name": n, "contentBase64": base64.b64encode(t.encode()).decode()}
                for n, t in files
            ]
            for scope, files in values.items()
        }
    if sets:
        body["set"] = sets
    return api.call("POST", "/api/v1/promotions", token, body)


def step_of(promo: Mapping[str, Any], env: str) -> dict[str, Any]:
    [step] = [s for s in promo["status"]["steps"] if s["environment"] == env]
    return dict(step)


def wait_for(
    api: Api,
    token: Callable[[], str],
    name: str,
    until: Callable[[dict[str, Any]], bool],
    bound: float = BOUND,
    every: float = 0.2,
) -> dict[str, Any]:
    """The promotion once `until(promo)` holds, or once it finished."""
    deadline = time.monotonic() + bound
    while True:
        got = api.get(token(), name)
        assert got.status_code == 200, got.text
        promo: dict[str, Any] = got.json()
        status = promo.get("status") or {}
        if status.get("steps") and (until(promo) or status.get("phase") in FINISHED):
            return promo
        assert time.monotonic() < deadline, status
        time.sleep(every)


def finished(promo: Mapping[str, Any]) -> bool:
    return (promo.get("status") or {}).get("phase") in FINISHED


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


def record_payload(release: str, revision: int, chart: Mapping[str, Any], namespace: str) -> str:
    """A release record's `release` value as Helm writes it: base64(gzip(JSON))."""
    doc = {
        "name": release,
        "namespace": namespace,
        "version": revision,
        "info": {"status": "deployed"},
        "chart": chart,
        "config": {},
        "manifest": "",
    }
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


def record_object(
    kind: str, release: str, revision: int, chart: Mapping[str, Any], namespace: str = NAMESPACE
) -> dict[str, Any]:
    """A forged `sh.helm.release.v1.REL.vN` Secret (type helm.sh/release.v1) or ConfigMap."""
    payload = record_payload(release, revision, chart, namespace)
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": f"sh.helm.release.v1.{release}.v{revision}",
            "namespace": namespace,
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


# --- the stack ---------------------------------------------------------------------------


def backend_pids() -> list[int]:
    """The stack's backend processes (their pid files)."""
    return [pid for name, pid in procs.tracked().items() if name.startswith("backend")]


def rss(pid: int) -> int:
    """VmRSS of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def grant(name: str, subresource: str, envs: list[str], user: str) -> list[dict[str, Any]]:
    """A ClusterRole `create environments/<subresource>` on `envs` and its binding to `user`."""
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["scipian.io"],
                    "resources": [f"environments/{subresource}"],
                    "verbs": ["create"],
                    "resourceNames": envs,
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": ref,
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


def apply(stack: Stack, cluster: str, items: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    stack.kubectl(cluster, "apply", "-f", "-", input=doc)


def delete(stack: Stack, cluster: str, items: list[dict[str, Any]]) -> None:
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    stack.kubectl(cluster, "delete", "--wait=false", "--ignore-not-found", "-f", "-", input=doc)


@contextmanager
def environment(stack: Stack, name: str, cluster: str, *options: str) -> Iterator[str]:
    """An Environment of the test's own on `cluster`, deploy namespace `shop`."""
    out = admin_cli(
        "register",
        f"--name={name}",
        f"--kubeconfig={stack.kubeconfig(cluster)}",
        f"--description=promotion attack test ({name})",
        f"--deploy-namespace={NAMESPACE}",
        *options,
    )
    assert out.returncode == 0, out.stderr
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "environment", name, "--wait=false", check=False)


def set_gates(name: str, *options: str) -> None:
    out = admin_cli("update", f"--name={name}", *options)
    assert out.returncode == 0, out.stderr

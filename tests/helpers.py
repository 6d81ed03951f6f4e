"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pty
import select
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.stack.paths import venv_bin
from tests.stack.podlogs import give_logs

if TYPE_CHECKING:
    from tests.conftest import Stack


def wait_for(
    what: str, check: Callable[[], object], timeout: float = 90.0, interval: float = 0.2
) -> None:
    """Polls `check` until it is truthy; fails the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


@contextmanager
def pod_with_logs(
    stack: Stack, prefix: str, lines: list[str], name: str = "web-0"
) -> Iterator[tuple[str, str]]:
    """A Running pod in a fresh dev namespace, its container `web` logging `lines`;
    yields (namespace, pod) and deletes the namespace afterwards."""
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    stack.kubectl("dev", "create", "namespace", ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "containers": [{"name": "web", "image": "nginx"}],
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
        },
    }
    # The namespace's default ServiceAccount (needed to admit a pod) may lag its creation.
    wait_for(
        "the pod to be admitted",
        lambda: (
            stack.kubectl("dev", "apply", "-f", "-", input=json.dumps(pod), check=False).returncode
            == 0
        ),
        timeout=60,
    )
    phase = ["get", "pod", "-n", ns, name, "-o", "jsonpath={.status.phase}"]
    wait_for("the pod to run", lambda: stack.kubectl("dev", *phase).stdout == "Running", 60)
    give_logs(stack.kubeconfig("dev"), ns, name, {"web": lines})
    try:
        yield ns, name
    finally:
        stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


def cluster_status(kubeconfig: dict[str, Any], tmp_path: Path) -> int:
    """What the cluster answers to an issued kubeconfig's token (GET /api)."""
    cluster, user = kubeconfig["clusters"][0]["cluster"], kubeconfig["users"][0]["user"]
    ca = tmp_path / "cluster-status-ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    response = requests.get(
        cluster["server"] + "/api",
        headers={"Authorization": f"Bearer {user['token']}"},
        verify=str(ca),
        timeout=10,
    )
    return response.status_code


def registered_environments(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every Environment in the management cluster (id -> spec), as its admin sees them: what a
    user granted every environment should see, whichever the stack (or a test) registered."""
    out = stack.kubectl("mgmt", "get", "environments.scipian.io", "-o", "json")
    return {i["metadata"]["name"]: i["spec"] for i in json.loads(out.stdout)["items"]}


def backend_log_lines(
    stack: Stack, match: Callable[[dict[str, Any]], bool], count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The stack's backend JSON log lines (the merged `backend.log`: every replica's) that
    `match`, ordered by their time, once at least `count` are there. A replica's lines reach
    the merged log through a tee (tests/stack/logtee.py), a moment after its answer."""

    def found() -> list[dict[str, Any]]:
        log = Path(stack.env["STACK_LOGS_DIR"]) / "backend.log"
        lines = []
        for raw in log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(raw))
        return sorted((x for x in lines if match(x)), key=lambda x: str(x.get("time", "")))

    wait_for(f"{count} matching line(s) in backend.log", lambda: len(found()) >= count, timeout)
    return found()


def env_grant(name: str, subresource: str, user: str, envs: list[str]) -> list[dict[str, Any]]:
    """A ClusterRole `create environments/<subresource>` on `envs` (resourceNames) and its
    ClusterRoleBinding to the User `user`, both named `name`."""
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
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    ]


@contextmanager
def shop_deployment(stack: Stack, cluster: str, name: str) -> Iterator[str]:
    """A Deployment `name` of the test's own in `shop` on `cluster` (the namespace made if
    missing and left, as other tests deploy there); yields its name, deletes it afterwards."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
            },
        },
    }
    stack.kubectl(cluster, "apply", "-f", "-", input=json.dumps(ns))
    stack.kubectl(cluster, "apply", "-f", "-", input=json.dumps(deploy))
    try:
        yield name
    finally:
        stack.kubectl(cluster, "delete", "deployment", "-n", "shop", name, check=False)


def plugin_kubectl(
    stack: Stack, kubeconfig: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real kubectl with a plugin kubeconfig (no terminal): its exec finds kubectl-scipian
    on PATH, with `env` (a user's plugin cache) or this process's environment."""
    base = dict(os.environ if env is None else env)
    path = f"{venv_bin()}{os.pathsep}{base.get('PATH', '')}"
    return subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, "PATH": path},
    )


class Terminal:
    """The plugin with its stdin, stdout and stderr on a terminal (a pty, TERM=dumb): what
    it wrote so far (`seen`), answers typed in, and its exit code. Every read waits at most
    `wait` seconds; `close()` kills it if it still runs."""

    def __init__(self, args: list[str], env: Mapping[str, str], wait: float) -> None:
        self.wait = wait
        self.seen = b""
        self._main, side = pty.openpty()
        self.proc = subprocess.Popen(
            [str(venv_bin() / "kubectl-scipian"), *args],
            stdin=side, stdout=side, stderr=side, env={**env, "TERM": "dumb"},
        )  # fmt: skip
        os.close(side)

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    def read(self) -> bytes:
        """The next output (b"" once the plugin ended), added to `seen`."""
        ready, _, _ = select.select([self._main], [], [], self.wait)
        assert ready, self.text
        try:
            chunk = os.read(self._main, 65536)
        except OSError:  # the terminal's other side closed: the plugin ended
            chunk = b""
        self.seen += chunk
        return chunk

    def read_until(self, marker: bytes) -> bool:
        """Reads until `marker` was written (True) or the plugin ended (False)."""
        while marker not in self.seen:
            if not self.read():
                return False
        return True

    def type(self, line: str) -> None:
        os.write(self._main, line.encode() + b"\n")

    def finish(self) -> int:
        """Reads to the end; the exit code."""
        while self.read():
            pass
        return self.proc.wait(self.wait)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self._main)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

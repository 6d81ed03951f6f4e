"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

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

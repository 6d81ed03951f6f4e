"""A real node that crashed is cleaned up before the next one starts (docs/stack.md, "Real
node"): `.stack/host-before.json` from the crashed run is restored first (what ran in the
node's cgroups is gone: a containerd and kubelet restarted alone would have kept it), and
the new run records the host as it was before any node, not as the kubelet left it."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e import real_node as rn
from tests.helpers import wait_for
from tests.stack import node, procs

pytestmark = pytest.mark.stack
KUBELET_SETS = {"kernel.panic": "10", "kernel.panic_on_oops": "1", "vm.overcommit_memory": "1"}


def _sysctl(name: str) -> str:
    return Path("/proc/sys", name.replace(".", "/")).read_text().strip()


def _pod(namespace: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "survivor", "namespace": namespace},
        "spec": {
            "nodeSelector": rn.NODE_SELECTOR,
            "tolerations": rn.TOLERATIONS,
            "containers": [{"name": "web", "image": rn.SHOP_WEB_IMAGE, "imagePullPolicy": "Never"}],
        },
    }


def _container_pids(pod_uid: str) -> list[int]:
    """The processes in the pod's cgroup (cgroupfs: .../kubepods/<qos>/pod<uid>/<id>)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"pod{pod_uid}" in (proc / "cgroup").read_text():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_crashed_nodes_host_changes_are_restored_before_the_next_start(
    stack: Stack, real_node: rn.RealNode
) -> None:
    rn.import_shop_web_image()
    namespace = f"t-rn-crash-{uuid.uuid4().hex[:6]}"
    stack.kubectl("mgmt", "create", "namespace", namespace)
    try:
        _crash_and_start_again(stack, namespace)
    finally:
        stack.kubectl("mgmt", "delete", "namespace", namespace, "--timeout=120s", check=False)


def _crash_and_start_again(stack: Stack, namespace: str) -> None:
    stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(_pod(namespace)))
    stack.kubectl(
        "mgmt", "-n", namespace, "wait", "--for=condition=Ready", "pod/survivor", "--timeout=120s"
    )
    uid = stack.kubectl(
        "mgmt", "-n", namespace, "get", "pod", "survivor", "-o", "jsonpath={.metadata.uid}"
    ).stdout
    running = _container_pids(uid)
    assert running, "the pod's container is not in its cgroup"
    before = json.loads(node.before_file().read_text())
    # The kubelet's changes are in place while it runs.
    assert {n: _sysctl(n) for n in KUBELET_SETS} == KUBELET_SETS
    assert {n: before["sysctls"][n] for n in KUBELET_SETS} != KUBELET_SETS
    # A crash: the kubelet and containerd killed, nothing restored, the state file left.
    pids = procs.tracked()
    for name in ("node-kubelet", "node-containerd"):
        os.kill(pids[name], signal.SIGKILL)
    wait_for("the kubelet and containerd gone", lambda: not node.running())
    assert node.before_file().exists()
    assert {n: _sysctl(n) for n in KUBELET_SETS} == KUBELET_SETS
    assert all(procs.alive(pid) for pid in running)  # a container outlives its runtime

    node.up()  # what the fixture, `scripts/stack node up` or the stack's up/down do next

    assert not any(procs.alive(pid) for pid in running)  # killed by the restore
    again = json.loads(node.before_file().read_text())
    assert again["sysctls"] == before["sysctls"]
    assert again["nftRuleset"] == before["nftRuleset"]
    assert again["cgroups"] == before["cgroups"]
    assert again["paths"] == before["paths"]
    assert node.running()

"""Promotions and `logs -f` meet real containers on the stack's real node.

This module registers `t-node`, an Environment on the mgmt cluster itself (where the real
node joined), deploy namespace `shop`, and removes it afterwards. The test chart shop-web
goes there with tests/charts/shop-web/values-real-node.yaml (the node's label and
toleration, `imagePullPolicy: Never`); its image, tests/tools/shopweb, is imported into the
node's containerd under the chart's own image name. What KWOK never shows happens for
real: a container that crashes and is restarted by the kubelet, a readiness probe that
fails, a container's log written as it runs.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scipian_backend.promotions.lock import lock_name
from tests.conftest import Stack
from tests.e2e import real_node as rn
from tests.e2e.promotions.world import (
    NAMESPACE,
    Api,
    Archive,
    Flow,
    Helm,
    Logins,
    release_name,
    step_of,
    values_file,
)
from tests.e2e.test_plugin_deploy import login, make_env
from tests.stack.backend_daemon import admin_cli
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack
ENV = "t-node"
BOUND = 120.0  # a bound on waiting, not a timing assertion


@pytest.fixture(scope="module")
def node_env(stack: Stack, real_node: rn.RealNode) -> Iterator[str]:
    rn.import_shop_web_image()
    # A namespace still terminating (an earlier run's) refuses the step's objects.
    stack.kubectl("mgmt", "delete", "namespace", NAMESPACE, "--ignore-not-found",
                  "--timeout=120s")  # fmt: skip
    out = admin_cli(
        "register",
        f"--name={ENV}",
        f"--kubeconfig={stack.kubeconfig('mgmt')}",
        "--description=the real node (mgmt)",
        f"--deploy-namespace={NAMESPACE}",
    )
    assert out.returncode == 0, out.stderr
    try:
        yield ENV
    finally:
        stack.kubectl("mgmt", "delete", "environment", ENV, "--wait=false", check=False)
        # Waited for while the node runs, so that its kubelet stops the pods.
        stack.kubectl("mgmt", "delete", "namespace", NAMESPACE, "--timeout=120s", check=False)


@pytest.fixture(scope="module")
def helm(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(Path(stack.env["STACK_HELM"]), tmp_path_factory.mktemp("real-node-helm"))


@pytest.fixture(scope="module")
def chart(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return helm.package("1.1.0", tmp_path_factory.mktemp("real-node-chart"))


@pytest.fixture(scope="module")
def carol(stack: Stack) -> str:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"]).fresh("carol")


@pytest.fixture
def release(stack: Stack, helm: Helm) -> Iterator[str]:
    name = release_name("t-rn")
    yield name
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json")
    for item in json.loads(out.stdout)["items"]:
        if item["spec"]["release"] == name:
            stack.kubectl(
                "mgmt", "delete", "promotion.scipian.io", item["metadata"]["name"],
                "--wait=false", check=False,
            )  # fmt: skip
    helm.run(stack.kubeconfig("mgmt"), "uninstall", name, "-n", NAMESPACE, check=False)
    stack.kubectl(
        "mgmt", "delete", "lease", "-n", "scipian-system", lock_name(NAMESPACE, name), check=False
    )


def real_node_values(*extra: str) -> dict[str, list[dict[str, str]]]:
    files = [values_file("real-node.yaml", rn.SHOP_WEB_REAL_NODE_VALUES.read_text())]
    files += [values_file(f"extra-{i}.yaml", text) for i, text in enumerate(extra)]
    return {ENV: files}


def events_of(stack: Stack, reason: str) -> list[dict[str, object]]:
    out = stack.kubectl(
        "mgmt", "get", "events", "-n", NAMESPACE, f"--field-selector=reason={reason}", "-o", "json"
    )
    items: list[dict[str, object]] = json.loads(out.stdout)["items"]
    return items


def test_verification_meets_a_real_crash_looping_container(
    stack: Stack, node_env: str, chart: Archive, carol: str, release: str
) -> None:
    flow = Flow(Api(stack.env["SCIPIAN_BACKEND_URL"]))
    crash = 'env: [{name: CRASH_AFTER, value: "5"}]\n'
    # a long soak: the crash is caught by the soak's re-checks, not by waiting it out
    promo = flow.start(
        carol, release, chart, [ENV], values=real_node_values(crash), soakSeconds=600
    )
    promo = flow.finished(carol, promo, bound=BOUND)
    step = step_of(promo, ENV)
    assert step["phase"] == "Failed", promo["status"]
    assert re.fullmatch(
        rf"verification: pod {release}-[a-z0-9]+-[a-z0-9]+ container web "
        r"(restarted|exited with code 1|cannot start \(CrashLoopBackOff\))",
        step["message"],
    ), step["message"]
    # the kubelet ran it: its own Events for the release's pods
    started = [
        e for e in events_of(stack, "Started")
        if str(e["involvedObject"]["name"]).startswith(f"{release}-")  # type: ignore[index]
    ]  # fmt: skip
    assert started and all(e["source"].get("component") == "kubelet" for e in started)  # type: ignore[attr-defined]


def test_a_real_failing_readiness_probe_fails_the_promotion(
    stack: Stack, node_env: str, chart: Archive, carol: str, release: str
) -> None:
    flow = Flow(Api(stack.env["SCIPIAN_BACKEND_URL"]))
    never = 'env: [{name: NEVER_READY, value: "1"}]\n'
    promo = flow.start(
        carol, release, chart, [ENV], values=real_node_values(never), timeoutSeconds=30
    )
    promo = flow.finished(carol, promo, bound=BOUND)
    step = step_of(promo, ENV)
    assert (step["phase"], step["message"]) == ("Failed", "timeout"), promo["status"]
    # the kubelet's probe is what failed: its Unhealthy Events for the release's pods
    unhealthy = [
        e for e in events_of(stack, "Unhealthy")
        if str(e["involvedObject"]["name"]).startswith(f"{release}-")  # type: ignore[index]
    ]  # fmt: skip
    assert unhealthy, "no Unhealthy Event"
    messages = {str(e["message"]) for e in unhealthy}
    assert all(m.startswith("Readiness probe failed: ") for m in messages), messages
    # (the first probes may find nothing listening yet; then the server's own 503)
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in messages, messages


def test_logs_follow_a_real_containers_log(
    stack: Stack, node_env: str, helm: Helm, chart: Archive, release: str, tmp_path: Path
) -> None:
    """`kubectl scipian t-node logs -f` and kubectl's own `logs -f` on the same running pod
    print the same lines as the container writes them (a tick a second)."""
    done = helm.run(
        stack.kubeconfig("mgmt"), "upgrade", "--install", release, str(chart.path),
        "-n", NAMESPACE, "-f", str(rn.SHOP_WEB_REAL_NODE_VALUES), "--wait", "--timeout", "90s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = stack.kubectl(
        "mgmt", "-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/instance={release}",
        "-o", "jsonpath={.items[0].metadata.name}",
    )  # fmt: skip
    pod = out.stdout
    carol = login(stack, "carol", make_env(stack, tmp_path / "carol"))
    args = ["logs", "-f", pod, "-n", NAMESPACE]
    files = {name: tmp_path / f"{name}.out" for name in ("plugin", "kubectl")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with files["plugin"].open("wb") as f:
            procs["plugin"] = subprocess.Popen(
                [str(venv_bin() / "kubectl-scipian"), ENV, *args],
                stdout=f, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=dict(carol),
            )  # fmt: skip
        with files["kubectl"].open("wb") as f:
            procs["kubectl"] = subprocess.Popen(
                [stack.kubectl_path, f"--kubeconfig={stack.kubeconfig('mgmt')}", *args],
                stdout=f, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        # Both follow: each stream grows past a tick written after both started.
        target = _ticks(stack, pod)[-1] + 3
        deadline = time.monotonic() + BOUND
        while not all(_has_tick(files[n], target) for n in files):
            assert time.monotonic() < deadline, {n: files[n].read_text()[-200:] for n in files}
            for name, p in procs.items():
                assert p.poll() is None, (name, p.stderr.read() if p.stderr else "")
            time.sleep(0.2)
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGINT)
            p.wait(30)
    plugin = files["plugin"].read_text().splitlines()
    kubectl = files["kubectl"].read_text().splitlines()
    assert plugin[0] == kubectl[0] == "tick 1"
    common = min(len(plugin), len(kubectl))
    assert plugin[:common] == kubectl[:common] == [f"tick {n}" for n in range(1, common + 1)]


def _ticks(stack: Stack, pod: str) -> list[int]:
    out = stack.kubectl("mgmt", "-n", NAMESPACE, "logs", pod)
    return [int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("tick ")]


def _has_tick(path: Path, n: int) -> bool:
    return f"tick {n}\n" in path.read_text()

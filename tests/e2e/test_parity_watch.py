"""`get -w` through kubectl-scipian and the real kubectl, both watching at once while this
test (another process: kubectl as admin) creates, updates and deletes pods: same stream.

No timing decides anything. Each case labels its pods `watch-case=<id>` and watches with
that selector, so lists and events are its own. A `-w` watch resumes from its list's
resourceVersion, so once both have printed the seed pod nothing later can be missed.
The end is a pod bound to a node that does not exist: nothing ever changes it, so its
one ADDED event is the last either stream will carry; both outputs showing it means both
have printed everything before it. Then SIGINT, and both exit 1, as kubectl does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import ROOT, Parity, normalize_ages, plugin_command, view_kubeconfig
from tests.e2e.test_plugin_access import login, make_env
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack
NS = "parity-watch"
WAIT = 60.0  # the longest any wait may take before the test fails (not a timing assertion)


class Case(NamedTuple):
    args: tuple[str, ...]
    named: bool = False  # watch one object (pod/seed) instead of the collection
    watch_only: bool = False


CASES = {
    "table": Case(("-w",)),
    "wide": Case(("-w", "-o", "wide")),
    "table-events": Case(("-w", "--output-watch-events")),
    "wide-events": Case(("-w", "-o", "wide", "--output-watch-events")),
    "json": Case(("-w", "-o", "json")),
    "json-events": Case(("-w", "-o", "json", "--output-watch-events")),
    "yaml": Case(("-w", "-o", "yaml")),
    "yaml-events": Case(("-w", "-o", "yaml", "--output-watch-events")),
    "yaml-managed": Case(("-w", "-o", "yaml", "--show-managed-fields")),
    "name": Case(("-w", "-o", "name")),
    "name-events": Case(("-w", "-o", "name", "--output-watch-events")),
    "custom-columns": Case(
        ("-w", "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase,X:.metadata.labels.x")
    ),
    "custom-columns-events": Case(
        (
            "-w",
            "-o",
            "custom-columns=TYPE:.type,NAME:.object.metadata.name",
            "--output-watch-events",
        )
    ),
    "jsonpath": Case(("-w", "-o", "jsonpath={.metadata.name} {.metadata.labels.x};")),
    "show-labels": Case(("-w", "--show-labels")),
    "sort-by": Case(("-w", "--sort-by", "{.metadata.name}")),
    "sort-by-json": Case(("-w", "-o", "json", "--sort-by", "{.metadata.name}")),
    "label-column-no-headers": Case(("-w", "-L", "x", "--no-headers")),
    "all-namespaces-events": Case(("-A", "-w", "--output-watch-events")),
    "named": Case(("-w", "--output-watch-events"), named=True),
    "named-json": Case(("-w", "-o", "json", "--output-watch-events"), named=True),
    "named-wide": Case(("-w", "-o", "wide", "--output-watch-events"), named=True),
    "watch-only": Case(("--watch-only",), watch_only=True),
    "watch-only-events-wide": Case(
        ("--watch-only", "-o", "wide", "--output-watch-events"), watch_only=True
    ),
    "watch-only-name": Case(("--watch-only", "-o", "name"), watch_only=True),
}


def pod(name: str, case: str, *, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"watch-case": case}},
        "spec": spec,
    }


class Driver:
    """The other process: kubectl as the cluster's admin."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def k(self, *args: str, input: str | None = None) -> None:
        self.stack.kubectl("dev", "-n", NS, *args, input=input)

    def create(self, doc: dict[str, Any]) -> None:
        self.k("apply", "-f", "-", input=json.dumps(doc))


@pytest.fixture(scope="module")
def env(dev: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Parity, Driver]]:
    tmp = tmp_path_factory.mktemp("watch")
    kubectl = dev.kubectl_path
    kubeconfig = view_kubeconfig(dev.kubeconfig("dev"), kubectl, tmp / "view.json")
    dev.kubectl("dev", "create", "namespace", NS, check=False)
    yield Parity(kubectl, kubeconfig, tmp / "cache"), Driver(dev)
    dev.kubectl("dev", "delete", "namespace", NS, "--wait=false", check=False)


class Watch:
    """One running watch command, its stdout in a file."""

    def __init__(self, argv: list[str], out: Path, env: dict[str, str] | None = None) -> None:
        self.out = out
        self.err = out.with_suffix(".err")
        with out.open("wb") as o, self.err.open("wb") as e:
            self.proc = subprocess.Popen(
                argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL, cwd=ROOT, env=env
            )

    def text(self) -> str:
        return self.out.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=WAIT)


def wait_for(what: str, ok: Callable[[], bool], watches: list[Watch]) -> None:
    deadline = time.monotonic() + WAIT
    while not ok():
        for w in watches:
            assert w.proc.poll() is None, f"{w.out.name} exited: {w.err.read_text()}"
        assert time.monotonic() < deadline, f"never saw {what}: " + " | ".join(
            w.text()[-300:] for w in watches
        )
        time.sleep(0.1)


def drive(driver: Driver, case: str, watches: list[Watch], named: str | None) -> None:
    """Create, update, delete; then wait for the end: the marker pod, or, watching one
    object (always with --output-watch-events), its DELETED event."""
    target = named or f"{case}-worker-pod"
    if named is None:
        driver.create(pod(target, case))
    driver.k("label", "pod", target, "x=updated")
    driver.k("delete", "pod", target, "--wait=false")
    if named is not None:
        wait_for("the delete", lambda: all("DELETED" in w.text() for w in watches), watches)
        return
    marker = f"{case}-end"
    driver.create(pod(marker, case, node="nowhere"))
    wait_for("the end", lambda: all(marker in w.text() for w in watches), watches)


def _start_both(parity: Parity, argv: list[str], tmp: Path) -> tuple[Watch, Watch]:
    want = Watch([*parity.kubectl_argv(), *argv], tmp / "kubectl")
    got = Watch([*plugin_command(parity.kubeconfig, parity.cache_dir), *argv], tmp / "plugin")
    return want, got


def _without(text: str, name: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if name not in line)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_watch_parity(env: tuple[Parity, Driver], case: str, tmp_path: Path) -> None:
    parity, driver = env
    spec = CASES[case]
    seed = f"{case}-seed"
    driver.create(pod(seed, case))
    driver.k("wait", "--for=condition=Ready", f"pod/{seed}", "--timeout=60s")
    target = [f"pod/{seed}"] if spec.named else ["pods", "-l", f"watch-case={case}"]
    argv = ["get", *target, "-n", NS, *spec.args]
    want, got = _start_both(parity, argv, tmp_path)
    try:
        if spec.watch_only:
            # Nothing is printed until a change: ping with marker pods (no node: one event
            # each) until both have printed one; those lines are left out of the comparison.
            n = 0
            while not all("ping" in w.text() for w in (want, got)):
                for w in (want, got):
                    assert w.proc.poll() is None, w.err.read_text()
                driver.create(pod(f"ping{n}", case, node="nowhere"))
                n += 1
                assert n < 100, "the watches never started"
                time.sleep(0.2)
        else:
            wait_for("the seed", lambda: all(seed in w.text() for w in (want, got)), [want, got])
        drive(driver, case, [want, got], seed if spec.named else None)
    finally:
        rc_want, rc_got = want.stop(), got.stop()
        driver.k("delete", "pods", "-l", f"watch-case={case}", "--force", "--grace-period=0")
    out_want, out_got = want.text(), got.text()
    if spec.watch_only:
        out_want, out_got = _without(out_want, "ping"), _without(out_got, "ping")
    assert (rc_got, normalize_ages(out_got)) == (rc_want, normalize_ages(out_want))
    assert got.err.read_text() == want.err.read_text()
    # the stream holds the changes: created (or listed), updated, deleted at least
    changed = seed if spec.named else f"{case}-worker-pod"
    assert out_want.count(changed) >= 3, out_want


ERRORS = {
    "two-types": ["get", "pods,services", "-w", "-n", NS],
    "events-without-watch": ["get", "pods", "--output-watch-events", "-n", NS],
    "sort-by-ignored": ["get", "pods/none-such", "-w", "--sort-by", "{.metadata.name}", "-n", NS],
    "not-found": ["get", "pod", "none-such", "-w", "-n", NS],
    "forbidden": ["get", "secrets", "-w", "-n", NS],
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_watch_errors_parity(env: tuple[Parity, Driver], case: str) -> None:
    """Errors before any watch starts: the same words, the same exit code."""
    parity, _ = env
    argv = ERRORS[case]
    want = parity.run_kubectl(*argv)
    got = parity.run_plugin(*argv)
    assert want.rc != 0
    assert (got.rc, got.out, got.err) == (want.rc, want.out, want.err)


SEVERAL = {
    "several-table": ("-w",),
    "several-events": ("-w", "--output-watch-events"),
    "several-name": ("-w", "-o", "name"),
    "several-json": ("-w", "-o", "json"),
    "several-watch-only": ("--watch-only",),
    "several-missing": ("-w",),
}


@pytest.mark.parametrize("case", list(SEVERAL), ids=list(SEVERAL))
def test_watch_several_named_objects_parity(env: tuple[Parity, Driver], case: str) -> None:
    """`get pods a b -w`: kubectl gets each, prints them as a watch's start (the first
    error, if any, instead), then refuses to watch more than one, exit 1."""
    parity, driver = env
    names = [f"{case}-a", f"{case}-b"]
    for name in names:
        driver.create(pod(name, case, node="nowhere"))  # never scheduled: nothing changes
    if case == "several-missing":
        names.insert(1, f"{case}-none-such")
    try:
        argv = ["get", "pods", *names, *SEVERAL[case], "-n", NS]
        want = parity.run_kubectl(*argv)
        got = parity.run_plugin(*argv)
    finally:
        driver.k("delete", "pods", "-l", f"watch-case={case}", "--force", "--grace-period=0")
    assert want.rc == 1
    assert (got.rc, normalize_ages(got.out), got.err) == (
        want.rc,
        normalize_ages(want.out),
        want.err,
    )


def test_plugin_stream_equals_kubectl_stream(
    stack: Stack, env: tuple[Parity, Driver], tmp_path: Path
) -> None:
    """`kubectl scipian dev get pods -w` as alice (through the backend) and kubectl with a
    view ServiceAccount, at once, while pods are created, updated and deleted."""
    parity, driver = env
    case = f"e2e-{uuid.uuid4().hex[:6]}"
    alice = login(stack, "alice", make_env(stack, tmp_path / "config"))
    argv = ["get", "pods", "-n", NS, "-l", f"watch-case={case}", "-w", "--output-watch-events"]
    driver.create(pod(f"{case}-seed", case))
    want = Watch([*parity.kubectl_argv(), *argv], tmp_path / "k")
    got = Watch(
        [str(venv_bin() / "kubectl-scipian"), "dev", *argv], tmp_path / "p", env=dict(alice)
    )
    try:
        seed = f"{case}-seed"
        wait_for("the seed", lambda: all(seed in w.text() for w in (want, got)), [want, got])
        for i in range(3):
            driver.create(pod(f"{case}-p{i}", case))
        for i in range(3):
            driver.k("label", "pod", f"{case}-p{i}", "x=updated")
        for i in range(3):
            driver.k("delete", "pod", f"{case}-p{i}", "--wait=false")
        last = f"{case}-p2"
        wait_for(
            "the last delete",
            lambda: all(
                any(line.startswith("DELETED") and last in line for line in w.text().splitlines())
                for w in (want, got)
            ),
            [want, got],
        )
    finally:
        rc_want, rc_got = want.stop(), got.stop()
        driver.k("delete", "pods", "-l", f"watch-case={case}", "--force", "--grace-period=0")
    assert rc_got == rc_want == 1
    stream_want, stream_got = normalize_ages(want.text()), normalize_ages(got.text())
    assert stream_got == stream_want
    assert sum(line.startswith("DELETED") for line in stream_got.splitlines()) == 3


EXPIRED = {
    "table": (),
    "table-events": ("--output-watch-events",),
    "wide-events": ("-o", "wide", "--output-watch-events"),
    "all-namespaces-events": ("-A", "--output-watch-events"),
    "no-headers": ("--no-headers",),
    "labels": ("-L", "watch-case", "--show-labels"),
    "json": ("-o", "json"),
    "json-events": ("-o", "json", "--output-watch-events"),
    "yaml": ("-o", "yaml"),
    "yaml-events": ("-o", "yaml", "--output-watch-events"),
    "name": ("-o", "name"),
    "custom-columns": ("-o", "custom-columns=N:.metadata.name,P:.status.phase"),
    "custom-columns-events": (
        "-o",
        "custom-columns=T:.type,N:.object.metadata.name",
        "--output-watch-events",
    ),
    "watch-only": ("--watch-only",),
}


@pytest.fixture(scope="module")
def expiring(
    env: tuple[Parity, Driver], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Parity, Any]]:
    """kubectl and the plugin through a proxy (tests/e2e/expiring_proxy.py) that answers
    every watch as the apiserver answers one whose resourceVersion has left its watch
    window: an ERROR event with a 410 Expired Status, then the end of the stream."""
    import base64

    from tests.e2e.expiring_proxy import ExpiringProxy
    from tests.e2e.test_faults_stack import self_signed

    parity, driver = env
    tmp = tmp_path_factory.mktemp("expiring")
    doc = json.loads(parity.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    cert = self_signed(tmp)
    proxy = ExpiringProxy(
        cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), cert
    )
    doc["clusters"][0]["cluster"] = {
        "server": proxy.url,
        "certificate-authority-data": base64.b64encode(cert[0].read_bytes()).decode(),
    }
    through = tmp / "expiring.json"
    through.write_text(json.dumps(doc))
    through.chmod(0o600)
    driver.create(pod("expired-seed", "expired"))
    driver.k("wait", "--for=condition=Ready", "pod/expired-seed", "--timeout=60s")
    try:
        yield Parity(parity.kubectl, through, tmp / "cache"), proxy
    finally:
        proxy.stop()
        driver.k("delete", "pods", "-l", "watch-case=expired", "--force", "--grace-period=0")


@pytest.mark.parametrize("case", list(EXPIRED), ids=list(EXPIRED))
def test_watch_410_expired_parity(expiring: tuple[Parity, Any], case: str) -> None:
    """kubectl 1.36 neither resumes nor re-lists on 410: it prints the ERROR event's Status
    as its printer prints one, the server ends the stream, exit 0. So do we."""
    parity, proxy = expiring
    argv = ["get", "pods", "-n", NS, "-l", "watch-case=expired", "-w", *EXPIRED[case]]
    before = proxy.watches
    want = parity.run_kubectl(*argv)
    after_kubectl = proxy.watches
    got = parity.run_plugin(*argv)
    assert after_kubectl - before == proxy.watches - after_kubectl == 1  # one watch each
    assert want.rc == 0 and want.out and not want.err
    assert normalize_ages(got.out) == normalize_ages(want.out)
    assert (got.rc, got.err) == (want.rc, want.err)


def test_a_watch_outlives_its_credential(
    stack: Stack, env: tuple[Parity, Driver], tmp_path: Path
) -> None:
    """alice's sessions on dev revoked while `kubectl scipian dev get pods -w` streams: the
    apiserver authenticated the watch when it started, so it keeps printing (as kubectl's
    would); a new request with that token is refused."""
    from tests.stack.backend_daemon import admin_cli

    _, driver = env
    case = f"outlive-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "config"
    alice = login(stack, "alice", make_env(stack, config))
    driver.create(pod(f"{case}-seed", case))
    argv = ["get", "pods", "-n", NS, "-l", f"watch-case={case}", "-w", "--output-watch-events"]
    got = Watch(
        [str(venv_bin() / "kubectl-scipian"), "dev", *argv], tmp_path / "p", env=dict(alice)
    )
    try:
        wait_for("the seed", lambda: f"{case}-seed" in got.text(), [got])
        (record,) = [json.loads(p.read_text()) for p in config.rglob("kubeconfigs/*.json")]
        issued = tmp_path / "issued.kubeconfig"
        issued.write_text(record["kubeconfig"])
        issued.chmod(0o600)
        revoked = admin_cli("revoke", "--env=dev", "--user=oidc:alice@example.test")
        assert revoked.returncode == 0, revoked.stderr

        def refused() -> bool:
            done = subprocess.run(
                [stack.kubectl_path, f"--kubeconfig={issued}", "get", "pods", "-n", NS],
                capture_output=True,
                text=True,
                timeout=60,
            )
            return done.returncode == 1 and "Unauthorized" in done.stderr

        wait_for("the revoked token to be refused", refused, [got])
        driver.create(pod(f"{case}-after", case))
        driver.k("delete", "pod", f"{case}-after", "--wait=false")
        wait_for(
            "the events after the revocation",
            lambda: any(
                line.startswith("DELETED") and f"{case}-after" in line
                for line in got.text().splitlines()
            ),
            [got],
        )
    finally:
        rc = got.stop()
        driver.k("delete", "pods", "-l", f"watch-case={case}", "--force", "--grace-period=0")
    assert rc == 1 and got.err.read_text() == ""

"""The backend's helm sandbox (helmrun/sandbox.py) with the real Helm 4 of the stack.

Charts here are hostile on purpose: a template that loops for ever, one that renders
without end, one that allocates without end. What helm sees of its environment is read
back through `helm env`, and the storage driver through the records an install leaves.
The renders' digests are compared across `helm template`, `upgrade --dry-run=server`,
the install's `-o json` and the record on the real dev cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scipian_backend import kube
from scipian_backend.helmrun import HelmBusy, HelmSandbox, release_json, render
from scipian_backend.releases import full
from tests.conftest import Stack
from tests.e2e.chart_upload import write_chart

# 1e12 iterations of nothing: CPU without memory or output.
SPIN = (
    "{{- range until 10000 }}{{- range until 10000 }}{{- range until 10000 }}"
    + ("{{- end }}" * 3)
    + "\n"
)
# 5,000 ConfigMaps of 2 KiB each: ~11 MB of output.
FLOOD = textwrap.dedent(
    """\
    {{- $pad := repeat 2048 "x" }}
    {{- range $i := until 5000 }}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: flood-{{ $i }}
    data:
      pad: {{ $pad }}
    {{- end }}
    """
)
# A string doubled until it is 400 MB (and its copies): past any 256 MiB heap.
HOG = (
    '{{- $s := repeat 100 "x" }}{{- range until 22 }}{{- $s = print $s $s }}{{- end }}\n'
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hog}\ndata: {n: {{ len $s | quote }}}\n"
)
PRIVATE_DIRS = (
    "HELM_CACHE_HOME",
    "HELM_CONFIG_HOME",
    "HELM_DATA_HOME",
    "HELM_PLUGINS",
    "HELM_REGISTRY_CONFIG",
    "HELM_REPOSITORY_CACHE",
    "HELM_REPOSITORY_CONFIG",
)
BOUND = 120.0  # seconds: a bound on waiting, never a timing assertion


@pytest.fixture
def helm(stack: Stack) -> str:
    return stack.env["STACK_HELM"]


def _chart(tmp: Path, template: str) -> str:
    return str(write_chart(tmp / "chart", "hostile", "0.1.0", {"t.yaml": template}))


def test_a_template_that_spins_is_killed_by_the_cpu_limit(helm: str, tmp_path: Path) -> None:
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"), cpu_seconds=1)
    with sandbox.workspace() as ws:
        result = sandbox.run(ws, ["template", "r", _chart(tmp_path, SPIN)], timeout=BOUND)
    assert result.reason == "killed"
    assert result.code == -signal.SIGKILL


def test_a_template_that_spins_is_stopped_at_its_timeout(helm: str, tmp_path: Path) -> None:
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"), term_grace=1)
    with sandbox.workspace() as ws:
        result = sandbox.run(ws, ["template", "r", _chart(tmp_path, SPIN)], timeout=2)
    assert result.reason == "timeout"
    assert result.code != 0
    assert sandbox.running() == 0


def test_a_huge_render_is_capped(helm: str, tmp_path: Path) -> None:
    cap = 1024 * 1024
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"), output_bytes=cap)
    with sandbox.workspace() as ws:
        result = sandbox.run(ws, ["template", "r", _chart(tmp_path, FLOOD)], timeout=BOUND)
    assert result.reason == "output"
    assert len(result.stdout) == cap


def test_a_render_past_the_memory_bound_fails(helm: str, tmp_path: Path) -> None:
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"), memory_bytes=256 * 1024 * 1024)
    with sandbox.workspace() as ws:
        ordinary = str(write_chart(tmp_path / "small", "s", "0.1.0"))
        small = sandbox.run(ws, ["template", "r", ordinary], timeout=BOUND)
        result = sandbox.run(ws, ["template", "r", _chart(tmp_path, HOG)], timeout=BOUND)
    assert small.ok, small.stderr[:300]  # the bound leaves room for an ordinary render
    assert result.code != 0
    assert b"out of memory" in result.stderr or result.reason == "killed"


@pytest.fixture
def hostile_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return _poison(monkeypatch, tmp_path)


def _poison(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The backend's own environment as an attacker would like it to reach helm."""
    evil = tmp_path / "evil"
    evil.mkdir()
    for var, value in {
        "HELM_PLUGINS": str(evil / "plugins"),
        "HELM_REPOSITORY_CONFIG": str(evil / "repositories.yaml"),
        "HELM_REGISTRY_CONFIG": str(evil / "registry.json"),
        "HELM_DRIVER": "configmap",
        "HELM_KUBETOKEN": "stolen",
        "HELM_KUBEAPISERVER": "https://evil.invalid",
        "KUBECONFIG": str(evil / "kubeconfig"),
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "HTTPS_PROXY": "http://proxy.invalid:3128",
        "HOME": str(evil),
    }.items():
        monkeypatch.setenv(var, value)
    return evil


def test_helm_sees_only_its_workspace(helm: str, tmp_path: Path, hostile_environment: Path) -> None:
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"))
    with sandbox.workspace() as ws:
        result = sandbox.run(ws, ["env"], timeout=BOUND)
        where = str(ws.path)
    assert result.ok, result.stderr[:300]
    seen = dict(line.split("=", 1) for line in result.stdout.decode().splitlines() if "=" in line)
    seen = {k: v.strip('"') for k, v in seen.items()}
    for var in PRIVATE_DIRS:
        assert seen[var].startswith(where + "/"), var
    assert seen["HELM_KUBETOKEN"] == "" and seen["HELM_KUBEAPISERVER"] == ""
    assert str(hostile_environment) not in result.stdout.decode()


def test_install_uses_secrets_and_the_digests_agree(
    helm: str, stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HELM_DRIVER=configmap in the backend's environment: helm still writes a Secret. And
    one render digest for `helm template` (with the target's capabilities), the server-side
    dry run, the install's -o json and the record (releases/full.py) on dev."""
    template = textwrap.dedent(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-caps
        data:
          kube: {{ .Capabilities.KubeVersion.Version | quote }}
          apps: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
          leases: {{ .Capabilities.APIVersions.Has "coordination.k8s.io/v1" | quote }}
          day: 2026-01-01
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-hook
          annotations:
            helm.sh/hook: pre-install,pre-upgrade
            helm.sh/hook-delete-policy: before-hook-creation
        data: {a: "1"}
        """
    )
    chart = _chart(tmp_path, template)
    namespace = "sandbox-" + uuid.uuid4().hex[:8]
    release = "caps"
    admin = stack.kubeconfig("dev")
    stack.kubectl("dev", "create", "namespace", namespace)
    try:
        target = kube.from_kubeconfig_file(str(admin), None)
        _poison(monkeypatch, tmp_path)  # after the test's own client is made
        kube_version, api_versions = render.capabilities(target)
        assert "apps/v1/Deployment" in api_versions and "v1" in api_versions
        sandbox = HelmSandbox(helm, str(tmp_path / "scratch"))
        with sandbox.workspace() as ws:
            kubeconfig = ws.write("kubeconfig", admin.read_bytes())
            args = render.template_args(
                release, namespace, chart, kube_version=kube_version,
                api_versions=api_versions, is_upgrade=False,
            )  # fmt: skip
            templated = sandbox.run(ws, args, timeout=BOUND)
            assert templated.ok, templated.stderr[:300]
            upgrade = ["upgrade", "--install", release, chart, "-n", namespace, "-o", "json",
                       "--hide-notes"]  # fmt: skip
            dry = sandbox.run(ws, [*upgrade, "--dry-run=server"], timeout=BOUND,
                              kubeconfig=kubeconfig)  # fmt: skip
            assert dry.ok, dry.stderr[:300]
            done = sandbox.run(ws, upgrade, timeout=BOUND, kubeconfig=kubeconfig)
            assert done.ok, done.stderr[:300]
        digest = render.render_digest(templated.stdout.decode())
        dry_out, out = release_json(dry.stdout), release_json(done.stdout)
        assert render.render_digest(dry_out.manifest, dry_out.hooks) == digest
        assert render.render_digest(out.manifest, out.hooks) == digest
        assert out.hooks, "the hook is kept apart in the release"
        records = full.read_records(target, namespace, release)
        assert [r.revision for r in records] == [out.revision]
        assert records[0].secret_type == "helm.sh/release.v1"
        assert render.manifest_digest(records[0].manifest) == render.manifest_digest(out.manifest)
        assert render.config_digest(records[0].config) == render.config_digest(out.config)
        assert render.render_digest(records[0].manifest, records[0].hooks) == digest
        assert full.read_revision(target, namespace, release, out.revision) == records[0]
        assert full.read_revision(target, namespace, release, out.revision + 1) is None
        maps = stack.kubectl("dev", "get", "configmaps", "-n", namespace, "-l", "owner=helm",
                             "-o", "name")  # fmt: skip
        assert maps.stdout.strip() == ""
    finally:
        stack.kubectl("dev", "delete", "namespace", namespace, "--wait=false", check=False)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait(predicate: object, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {BOUND:.0f}s: {what}")
        time.sleep(0.05)


def test_helm_dies_with_the_process_that_started_it(helm: str, tmp_path: Path) -> None:
    chart = _chart(tmp_path, SPIN)
    script = textwrap.dedent(
        f"""\
        import sys, threading, time
        from scipian_backend.helmrun import HelmSandbox
        sandbox = HelmSandbox({helm!r}, {str(tmp_path / "scratch")!r})
        def run():
            with sandbox.workspace() as ws:
                sandbox.run(ws, ["template", "r", {chart!r}], timeout=600)
        threading.Thread(target=run, daemon=True).start()
        while not sandbox._running:
            time.sleep(0.01)
        print(list(sandbox._running)[0], flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        assert os.getpgid(pid) == pid  # a process group of its own
        parent.kill()  # SIGKILL: no handler, no cleanup runs in the parent
        parent.wait()
        _wait(lambda: not _alive(pid), f"helm {pid} ended after its parent was killed")
    finally:
        parent.kill()
        parent.wait()


@pytest.fixture
def two_slots(helm: str, tmp_path: Path) -> Iterator[tuple[HelmSandbox, str]]:
    sandbox = HelmSandbox(helm, str(tmp_path / "scratch"), max_runs=2, wait_slot=1, term_grace=1)
    yield sandbox, _chart(tmp_path, SPIN)
    sandbox.kill_all()


def _spin(sandbox: HelmSandbox, chart: str, cancel: threading.Event, out: list[object]) -> None:
    with sandbox.workspace() as ws:
        out.append(sandbox.run(ws, ["template", "r", chart], timeout=BOUND, cancel=cancel))


def test_a_third_run_waits_for_a_slot(two_slots: tuple[HelmSandbox, str]) -> None:
    sandbox, chart = two_slots
    cancels = [threading.Event(), threading.Event()]
    results: list[list[object]] = [[], []]
    threads = [
        threading.Thread(target=_spin, args=(sandbox, chart, c, r), daemon=True)
        for c, r in zip(cancels, results, strict=True)
    ]
    for t in threads:
        t.start()
    _wait(lambda: sandbox.running() == 2, "two helms running")
    with sandbox.workspace() as ws, pytest.raises(HelmBusy):
        sandbox.run(ws, ["version"], timeout=BOUND)
    assert sandbox.running() == 2
    # A third one that may wait runs once a slot frees.
    third: list[object] = []

    def run_third() -> None:
        with sandbox.workspace() as ws:
            third.append(sandbox.run(ws, ["version"], timeout=BOUND, wait=BOUND))

    t3 = threading.Thread(target=run_third, daemon=True)
    t3.start()
    cancels[0].set()
    threads[0].join(BOUND)
    t3.join(BOUND)
    assert results[0][0].reason == "cancelled"  # type: ignore[attr-defined]
    assert third and third[0].ok  # type: ignore[attr-defined]
    sandbox.kill_all()
    threads[1].join(BOUND)
    assert results[1][0].reason == "killed"  # type: ignore[attr-defined]
    assert sandbox.running() == 0

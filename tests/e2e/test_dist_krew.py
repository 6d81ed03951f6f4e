"""`make dist`'s archive installed by real krew, run as a user would, uninstalled again.

krew is built from its Go module (tests/tools/krew, cached by hash). The machine seen by
kubectl and the plugin has a python3 with no packages at all (a venv without pip, first
on PATH; no PYTHONPATH), the real kubectl, krew as `kubectl-krew`, and KREW_ROOT in a
temporary directory; the repository's .venv is not on PATH. The plugin's compiled-code
cache (XDG_CACHE_HOME) persists across runs, keyed by build, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.stack.login import plugin_login
from tests.stack.paths import kubectl
from tests.tools import Dist, bare_python, build_dist, bytecode_cache, krew

pytestmark = pytest.mark.stack


@dataclass(frozen=True)
class Machine:
    env: dict[str, str]
    krew_root: Path

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    return build_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def machine(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Machine:
    home = tmp_path_factory.mktemp("home")
    tools = home / "tools"
    tools.mkdir()
    (tools / "kubectl").symlink_to(kubectl())
    (tools / "kubectl-krew").symlink_to(krew())
    python_bin = bare_python(home / "python")
    krew_root = home / "krew"
    # `uninstall` wants an initialized index: an empty local one (what `kubectl krew update`
    # would clone from GitHub; --manifest installs never read it).
    subprocess.run(["git", "init", "-q", str(krew_root / "index" / "default")], check=True)
    path = [str(krew_root / "bin"), str(python_bin), str(tools), "/usr/bin", "/bin"]
    env = {
        "HOME": str(home),
        "PATH": os.pathsep.join(path),
        "KREW_ROOT": str(krew_root),
        "KREW_NO_UPGRADE_CHECK": "1",
        "KUBECONFIG": str(home / "kubeconfig"),  # never a person's
        "XDG_CACHE_HOME": str(bytecode_cache()),
        "KUBECTL_SCIPIAN_CONFIG_DIR": str(home / "scipian"),
        "SCIPIAN_BACKEND_URL": stack.env["SCIPIAN_BACKEND_URL"],
        "LANG": "C.UTF-8",
    }
    return Machine(env, krew_root)


@pytest.fixture(scope="module")
def installed(machine: Machine, dist: Dist) -> Iterator[Machine]:
    done = machine.run(
        "kubectl",
        "krew",
        "install",
        f"--manifest={dist.manifest}",
        f"--archive={dist.archive('linux')}",
    )
    assert done.returncode == 0, done.stderr
    yield machine
    machine.run("kubectl", "krew", "uninstall", "scipian")


@pytest.fixture(scope="module")
def dev_namespace(stack: Stack) -> Iterator[str]:
    ns = f"t-krew-{uuid.uuid4().hex[:6]}"
    stack.kubectl("dev", "create", "namespace", ns)
    stack.kubectl("dev", "create", "configmap", "from-krew", "-n", ns, "--from-literal=a=b")
    # A pod of our own, so `get pods -A` has a row whatever else the cluster holds; its
    # namespace's default ServiceAccount may take a moment to appear.
    deadline = time.monotonic() + 60
    while stack.kubectl(
        "dev", "run", "krew-pod", "--image=registry.example/k:1", "-n", ns, check=False
    ).returncode:
        assert time.monotonic() < deadline, "could not create the test pod"
        time.sleep(0.5)
    yield ns
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


def test_python_has_no_packages(machine: Machine) -> None:
    got = machine.run("python3", "-c", "import yaml")
    assert got.returncode != 0 and "No module named 'yaml'" in got.stderr
    got = machine.run("python3", "-m", "pip", "--version")
    assert got.returncode != 0


def test_installed_where_krew_puts_plugins(installed: Machine) -> None:
    binary = installed.krew_root / "bin" / "kubectl-scipian"
    assert binary.is_symlink()
    target = binary.resolve()
    assert target.parent == installed.krew_root / "store" / "scipian" / "v0.1.0"
    listed = installed.run("kubectl", "plugin", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(binary) in listed.stdout.splitlines()
    assert "warning" not in listed.stderr.lower()


def test_version_and_help(installed: Machine) -> None:
    started = time.monotonic()
    got = installed.run("kubectl", "scipian", "version")
    wall = time.monotonic() - started
    assert (got.returncode, got.stdout) == (0, "kubectl-scipian 0.1.0\n"), got.stderr
    print(f"installed plugin: `kubectl scipian version` in {wall:.2f}s")
    helped = installed.run("kubectl", "scipian", "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: kubectl scipian")


def test_login_and_get_on_the_stack(stack: Stack, installed: Machine, dev_namespace: str) -> None:
    plugin = str(installed.krew_root / "bin" / "kubectl-scipian")
    done = plugin_login("alice", stack.env["STACK_PASSWORD"], installed.env, plugin=plugin)
    assert done.returncode == 0, done.stderr
    got = installed.run("kubectl", "scipian", "dev", "get", "configmaps", "-n", dev_namespace)
    assert got.returncode == 0, got.stderr
    assert [line.split()[0] for line in got.stdout.splitlines()] == [
        "NAME",
        "from-krew",
        "kube-root-ca.crt",
    ]
    # From the zip too, a read loads only the client's REST layer (read/loader.py).
    traced = installed.run("python3", "-X", "importtime", plugin, "dev", "get", "configmaps")
    assert traced.returncode == 0, traced.stderr
    modules = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
    # (-X importtime lists what `import` statements load; the loader's own import_module
    # calls are not listed, what they import is)
    assert "kubernetes.client.exceptions" in modules
    heavy = ("kubernetes.client.api", "kubernetes.config", "multiprocessing", "dataclasses")
    assert sorted(modules & set(heavy)) == []
    pods = installed.run("kubectl", "scipian", "dev", "get", "pods", "-A")
    assert pods.returncode == 0, pods.stderr
    assert pods.stdout.split()[:2] == ["NAMESPACE", "NAME"]
    assert [dev_namespace, "krew-pod"] in [line.split()[:2] for line in pods.stdout.splitlines()]
    denied = installed.run("kubectl", "scipian", "prod", "get", "pods")
    assert (denied.returncode, denied.stderr) == (
        1,
        "Invalid authentication for provided environment.\n",
    )


def test_completion_through_kubectl(installed: Machine) -> None:
    """The archive's kubectl_complete-scipian, linked next to the plugin as the caveats say."""
    store = (installed.krew_root / "bin" / "kubectl-scipian").resolve().parent
    link = installed.krew_root / "bin" / "kubectl_complete-scipian"
    link.symlink_to(store / "kubectl_complete-scipian")
    try:
        got = installed.run("kubectl", "__complete", "scipian", "dev", "g")
        assert got.returncode == 0, got.stderr
        assert got.stdout.splitlines() == ["get", ":4"]
        envs = installed.run("kubectl", "__complete", "scipian", "dev")
        assert envs.stdout.splitlines() == ["dev", ":4"]  # alice's, from the backend
    finally:
        link.unlink()


def test_uninstall_leaves_nothing(installed: Machine) -> None:
    done = installed.run("kubectl", "krew", "uninstall", "scipian")
    assert done.returncode == 0, done.stderr
    root = installed.krew_root
    assert not (root / "store" / "scipian").exists()
    assert not os.path.lexists(root / "bin" / "kubectl-scipian")
    assert not (root / "receipts" / "scipian.yaml").exists()
    listed = installed.run("kubectl", "plugin", "list")
    assert "kubectl-scipian" not in listed.stdout

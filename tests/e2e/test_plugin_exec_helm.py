"""helm (built from its Go module, tests/tools/helm) lists releases through the plugin's
exec-credential kubeconfig (`kubectl scipian dev kubeconfig --output FILE`).

The issued credential has the environment's ClusterRole, `view`, which cannot read
Secrets, where helm keeps releases by default; with `HELM_DRIVER=configmap` helm keeps
them in ConfigMaps, which `view` may read. The dev cluster's admin installs a tiny chart
(one ConfigMap) written by the test into a namespace of the test's own; carol, logged in
through the real device flow, then lists it through the exec credential. helm runs with
HOME, its cache/config/data dirs and KUBECONFIG in a temporary directory, and finds the
exec command `kubectl-scipian` on PATH (.venv/bin).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.test_helm_chart import Helm, make_helm
from tests.stack.login import plugin_env, plugin_login, run_plugin
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack

RELEASE = "tiny"
CHART_YAML = "apiVersion: v2\nname: tiny\nversion: 0.1.0\n"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hello
data:
  hello: world
"""


@pytest.fixture(scope="module")
def real_helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return make_helm(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def release(
    stack: Stack, real_helm: Helm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """RELEASE installed by dev's admin (ConfigMap driver) into a namespace of our own."""
    chart = tmp_path_factory.mktemp("chart") / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML)
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    namespace = f"helm-exec-{uuid.uuid4().hex[:8]}"
    admin = ["--kubeconfig", str(stack.kubeconfig("dev")), "--namespace", namespace]
    driver = {"HELM_DRIVER": "configmap"}
    stack.kubectl("dev", "create", "namespace", namespace)
    try:
        done = real_helm.run("install", RELEASE, str(chart), *admin, env=driver)
        assert done.returncode == 0, done.stderr
        yield namespace
    finally:
        real_helm.run("uninstall", RELEASE, *admin, env=driver)
        stack.kubectl("dev", "delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def user_env(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """carol logged in (her own cache); kubectl-scipian on PATH for the exec credential."""
    env = plugin_env(
        stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path_factory.mktemp("carol") / "config")
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "KUBECONFIG"):
        env.pop(name, None)
    done = plugin_login("carol", stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    return env


def exec_kubeconfig(env: dict[str, str], path: Path) -> Path:
    done = run_plugin(["dev", "kubeconfig", "--output", str(path)], env)
    assert done.returncode == 0, done.stderr
    assert "token" not in path.read_text()  # an exec user, no credential in the file
    return path


def helm_as_user(env: dict[str, str]) -> dict[str, str]:
    """What the exec command needs from helm's environment: the plugin, its cache, backend."""
    return {
        "PATH": f"{venv_bin()}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "KUBECTL_SCIPIAN_CONFIG_DIR": env["KUBECTL_SCIPIAN_CONFIG_DIR"],
        "SCIPIAN_BACKEND_URL": env["SCIPIAN_BACKEND_URL"],
    }


def test_helm_lists_releases_through_the_exec_credential(
    real_helm: Helm, release: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    path = exec_kubeconfig(user_env, tmp_path / "dev.kubeconfig")
    env = {**helm_as_user(user_env), "HELM_DRIVER": "configmap"}

    done = real_helm.run("--kubeconfig", str(path), "list", "-n", release, "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    [item] = json.loads(done.stdout)
    assert (item["name"], item["namespace"]) == (RELEASE, release)
    assert (item["status"], item["chart"], item["revision"]) == ("deployed", "tiny-0.1.0", "1")

    table = real_helm.run("--kubeconfig", str(path), "list", "-n", release, env=env)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:2] == ["NAME", "NAMESPACE"]
    assert table.stdout.splitlines()[1].split()[:2] == [RELEASE, release]


def test_the_default_secret_driver_is_beyond_a_view_credential(
    real_helm: Helm, release: str, user_env: dict[str, str], tmp_path: Path
) -> None:
    """Why the ConfigMap driver: `view` cannot list Secrets, so helm's default fails."""
    path = exec_kubeconfig(user_env, tmp_path / "dev.kubeconfig")
    env = {**helm_as_user(user_env), "HELM_DRIVER": "secret"}
    done = real_helm.run("--kubeconfig", str(path), "list", "-n", release, env=env)
    assert done.returncode != 0
    assert "secrets is forbidden" in done.stderr, done.stderr

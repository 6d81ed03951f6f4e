"""`ENV get` with a fresh cached kubeconfig imports neither the HTTP/OIDC stack of the
login path (requests) nor the kubernetes package's models and config loaders: only the
client's REST layer. Checked through `sys.modules` in a fresh interpreter; no timings
(`make bench` reports those).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.stack.login import plugin_env, plugin_login, run_plugin
from tests.unit.test_perf_imports import LEAN, imported, modules_after

pytestmark = pytest.mark.stack


def test_get_with_a_fresh_cached_kubeconfig(stack: Stack, tmp_path: Path) -> None:
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "config"))
    done = plugin_login("alice", stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    first = run_plugin(["dev", "get", "pods", "-n", "default"], env)  # fetches and caches
    assert first.returncode == 0, first.stderr

    modules = modules_after(["dev", "get", "pods", "-n", "default"], tmp_path, env)

    assert not imported(modules, "requests")
    assert not imported(modules, "kubectl_scipian.oidc")
    assert not imported(modules, "kubernetes.client.models")
    assert not imported(modules, "kubernetes.client.api")
    assert not imported(modules, "kubernetes.config")
    assert not imported(modules, "yaml")  # the kubeconfig is cached as JSON
    # Value types are plain classes and NamedTuples (read/loader.py has the loader's reasons)
    assert [m for m in LEAN if imported(modules, m)] == []
    assert "urllib3" in modules  # the request did go through the client's REST layer

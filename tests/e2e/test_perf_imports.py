"""`ENV get` with a fresh cached kubeconfig, on the stack, imports only what
tests/unit/test_read_imports.py allows (there: the list and each entry's reason): no HTTP
library (read/transport.py speaks HTTP/1.1 itself), no `kubernetes`, `requests`, `logging`,
OIDC code, YAML parser or dataclasses. Checked through `sys.modules` in a fresh interpreter
without `site`, so the warm read needs nothing from site-packages at all; no timings
(`make bench` reports those).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.stack.login import plugin_env, plugin_login, run_plugin
from tests.unit.test_perf_imports import LEAN, imported
from tests.unit.test_read_imports import ALLOWED, read_modules

pytestmark = pytest.mark.stack


def test_get_with_a_fresh_cached_kubeconfig(stack: Stack, tmp_path: Path) -> None:
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "config"))
    done = plugin_login("alice", stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    first = run_plugin(["dev", "get", "pods", "-n", "default"], env)  # fetches and caches
    assert first.returncode == 0, first.stderr

    got, rc, modules = read_modules(
        ["dev", "get", "pods", "-n", "kube-system"], env, tmp_path / "modules.json"
    )

    assert rc == 0, got.stderr
    assert sorted(modules - ALLOWED) == []
    for heavy in ("requests", "urllib3", "http", "email", "kubernetes", "logging", "yaml"):
        assert not imported(modules, heavy)
    assert not imported(modules, "kubectl_scipian.oidc")
    assert [m for m in LEAN if imported(modules, m)] == []
    assert "kubectl_scipian.support.http1" in modules  # the request went through the transport

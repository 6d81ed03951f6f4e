"""`helm_history` of `make bench`: Helm reads through Scipian beside the real Helm 4.

- history: `kubectl scipian dev helm history R` as alice beside `helm history R` with dev's
  admin kubeconfig, on the same release (the stack's shop-web in `shop`);
- list_envs: `kubectl scipian dev,staging,prod helm list -A` (the environments the stack
  has) beside as many `helm list -A` runs one after another, one per admin kubeconfig.

`python -m bench.run helm_history` runs this entry alone and prints it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import measure
from tests.stack.releases import NAMESPACE, RELEASE

TARGETS = ("dev", "staging", "prod")


def helm_history(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    plugin: list[str],
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    helm = stack_env["STACK_HELM"]
    home = work / "helm-home"
    run_env = {
        **env,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    admin = {
        t: stack_env[f"STACK_{t.upper()}_KUBECONFIG"]
        for t in TARGETS
        if f"STACK_{t.upper()}_KUBECONFIG" in stack_env
    }
    history = ["history", RELEASE, "-n", NAMESPACE]
    s = measure.alternate(
        {
            "plugin": [*plugin, "dev", "helm", *history],
            "kubectl": [helm, f"--kubeconfig={admin['dev']}", *history],
        },
        runs=runs, env=run_env,
    )  # fmt: skip
    entry = timing(s)
    # Three sequential `helm list -A`: one shell runs them, as a script would.
    sequential = " && ".join(
        f"{shlex.quote(helm)} --kubeconfig={shlex.quote(path)} list -A >/dev/null"
        for path in admin.values()
    )
    s = measure.alternate(
        {
            "plugin": [*plugin, ",".join(admin), "helm", "list", "-A"],
            "kubectl": ["sh", "-c", sequential],
        },
        runs=runs, env=run_env,
    )  # fmt: skip
    entry["list_envs"] = {"environments": list(admin), **timing(s)}
    return entry


def run_entry(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    """The entry with a login of its own: carol, who may read every environment."""
    import shutil

    from tests.stack.login import plugin_login

    config_dir = work / "plugin-config-helm"
    shutil.rmtree(config_dir, ignore_errors=True)
    own = {**env, "KUBECTL_SCIPIAN_CONFIG_DIR": str(config_dir)}
    plugin_login("carol", stack_env["STACK_PASSWORD"], own)
    return helm_history(own, stack_env, work, ["kubectl", "scipian"], timing, runs)

"""`promotion_overhead` of `make bench`: a promotion through three environments beside
three sequential `helm upgrade --install --wait` runs with admin kubeconfigs.

Three environments of the bench's own (`bench-p1..3` on the dev, staging and prod
clusters, deploy level in namespace `bench-promo`, no soak, no approvals, a step-up age
of an hour so that one login serves every run) are registered through the backend's admin
CLI; carol (platform-admins: deploy everywhere) promotes tests/charts/shop-web through
them. The comparison installs the same chart, release `bench-helm`, with the real Helm 4
and each cluster's admin kubeconfig, one cluster after the other, as a script would.
The overhead per environment is (promotion - helm) / 3; target <= 1.5 s.

`python -m bench.run promotion_overhead` runs this entry alone and prints it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import measure
from tests.stack.releases import CHART

CLUSTERS = ("dev", "staging", "prod")
ENVS = tuple(f"bench-p{i + 1}" for i in range(len(CLUSTERS)))
NAMESPACE = "bench-promo"
TARGET_PER_ENV_S = 1.5


def register(stack_env: Mapping[str, str]) -> None:
    """The three environments (idempotent: an existing one is updated) and the namespace."""
    from tests.stack import clusters
    from tests.stack.backend_daemon import admin_cli

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    for env_id, cluster in zip(ENVS, CLUSTERS, strict=True):
        clusters.kubectl_run(cluster, "apply", "-f", "-", input=json.dumps(ns))
        args = [
            f"--kubeconfig={stack_env[f'STACK_{cluster.upper()}_KUBECONFIG']}",
            f"--name={env_id}",
            f"--deploy-namespace={NAMESPACE}",
            "--max-auth-age=3600",
            "--allow-privileged-role",  # the default deploy role, edit
        ]
        done = admin_cli("register", "--description=bench promotion", *args)  # or updates
        if done.returncode != 0:
            raise RuntimeError(f"bench: registering {env_id} failed: {done.stderr.strip()}")


def promotion_overhead(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    helm = stack_env["STACK_HELM"]
    home = work / "helm-home-promo"
    run_env = {
        **env,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    promote = promote_argv(helm, "bench: promotion_overhead")
    admin = [stack_env[f"STACK_{c.upper()}_KUBECONFIG"] for c in CLUSTERS]
    sequential = " && ".join(
        f"{shlex.quote(helm)} --kubeconfig={shlex.quote(path)} upgrade --install bench-helm "
        f"{shlex.quote(str(CHART))} -n {NAMESPACE} --wait >/dev/null"
        for path in admin
    )
    s = measure.alternate(
        {"plugin": promote, "kubectl": ["sh", "-c", sequential]},
        runs=runs, warmup=1, env=run_env,
    )  # fmt: skip
    entry = timing(s)
    entry["environments"] = list(ENVS)
    entry["overhead_per_env_s"] = round((entry["plugin_s"] - entry["kubectl_s"]) / len(ENVS), 3)
    entry["target_per_env_s"] = TARGET_PER_ENV_S
    return entry


def run_entry(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    """The entry with a login of its own: carol, who may deploy everywhere."""
    import shutil

    from tests.stack.login import plugin_login

    register(stack_env)
    config_dir = work / "plugin-config-promotion"
    shutil.rmtree(config_dir, ignore_errors=True)
    own = {**env, "KUBECTL_SCIPIAN_CONFIG_DIR": str(config_dir)}
    done = plugin_login("carol", stack_env["STACK_PASSWORD"], own)
    if done.returncode != 0:
        raise RuntimeError(f"bench: carol's login failed: {done.stderr.strip()[-300:]}")
    # One promotion first: a failure is said at once, not as a timing.
    first = subprocess.run(
        promote_argv(stack_env["STACK_HELM"], "bench: first promotion"),
        env=own, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if first.returncode != 0:
        raise RuntimeError(f"bench: the first promotion failed: {first.stderr.strip()[-500:]}")
    return promotion_overhead(own, stack_env, work, timing, runs)


def promote_argv(helm: str, reason: str) -> list[str]:
    return [
        "kubectl", "scipian", "promote", "bench-promoted", "-n", NAMESPACE, "--chart", str(CHART),
        "--version", "1.0.0", "--through", ",".join(ENVS), "--reason", reason, "--helm", helm,
    ]  # fmt: skip

"""Helm releases the stack's admin installs for the demo and for people trying things:
`shop-web` (tests/charts/shop-web) in namespace `shop` of every target cluster, with a
few revisions (1.0.0, then 1.1.0, then on dev an upgrade whose smoke Job fails) so that
`helm history` has something to show. Tests never assert on these: they install their own.

Helm 4 writes them (STACK_HELM); Helm 3 (STACK_HELM3) stays built for records of the
previous major.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.stack import clusters
from tests.stack.paths import ROOT

CHART = ROOT / "tests" / "charts" / "shop-web"
NAMESPACE = "shop"
RELEASE = "shop-web"


def helm_env(home: Path, kubeconfig: Path) -> dict[str, str]:
    """A helm that writes only under `home` and talks to `kubeconfig`'s cluster."""
    return {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KUBECONFIG": str(kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "LANG": "C.UTF-8",
    }


def package(helm: Path, version: str, out: Path) -> Path:
    """The chart at another version (its appVersion follows), as a .tgz in `out`."""
    app = version.rsplit(".", 1)[0]
    env = helm_env(out, Path(os.devnull))
    subprocess.run(
        [str(helm), "package", str(CHART), "--version", version, "--app-version", app,
         "-d", str(out)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out / f"shop-web-{version}.tgz"


def install(helm: Path, envs: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory(prefix="stack-helm-") as tmp:
        home = Path(tmp)
        v11 = package(helm, "1.1.0", home)

        def one(env: str) -> None:
            kubeconfig = clusters.admin_kubeconfig(env)
            run = _runner(helm, helm_env(home / env, kubeconfig))
            ns = ["-n", NAMESPACE]
            run("install", RELEASE, str(CHART), *ns, "--create-namespace")
            run("upgrade", RELEASE, str(v11), *ns)
            if env == "dev":  # a failed revision: its smoke Job fails (exit code 3)
                run("upgrade", RELEASE, str(v11), *ns, "--set", "failWith=3", check=False)

        with ThreadPoolExecutor(len(envs)) as pool:
            list(pool.map(one, envs))


def _runner(helm: Path, env: dict[str, str]) -> Callable[..., None]:
    def run(*args: str, check: bool = True) -> None:
        done = subprocess.run(
            [str(helm), *args], env=env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"helm {args[0]} failed: {done.stderr.strip()[:300]}")

    return run

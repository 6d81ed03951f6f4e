"""Releases of the helm read tests' own, written by the real Helm 4 and Helm 3 as dev's
admin into namespaces of their own (unique names: nothing another test owns is compared).

In `ns` (Secret driver): one (1 revision), two (2), twelve (12: beyond Helm's default
max history, kept with --history-max 0), failing (a failed upgrade: its smoke Job fails
through the KWOK fail annotation), back (a rollback revision), gone
(uninstalled with --keep-history), web.v2 (a dotted name holding ".v"), h3 (written by
Helm 3: install and upgrade). In `cm` (ConfigMap driver): shop.cm (2 revisions).
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Stack
from tests.stack.releases import CHART, helm_env, package

SECRET_RELEASES = ("one", "two", "twelve", "failing", "back", "gone", "web.v2", "h3")
CONFIGMAP_RELEASES = ("shop.cm",)


@dataclass(frozen=True)
class Helm:
    binary: Path
    env: dict[str, str]

    def run(
        self, *args: str, driver: str = "secret", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args],
            env={**self.env, "HELM_DRIVER": driver},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}: {done.stderr}")
        return done


@dataclass(frozen=True)
class World:
    ns: str
    cm: str
    helm: Helm  # Helm 4, the reference
    secret: str  # a value set on every release: it must never come out of Scipian


def build(stack: Stack, home: Path) -> World:
    kubeconfig = stack.kubeconfig("dev")
    helm4 = Helm(Path(stack.env["STACK_HELM"]), helm_env(home / "h4", kubeconfig))
    helm3 = Helm(Path(stack.env["STACK_HELM3"]), helm_env(home / "h3", kubeconfig))
    suffix = uuid.uuid4().hex[:6]
    ns, cm = f"t-helm-{suffix}", f"t-helm-cm-{suffix}"
    secret = f"apikey-{uuid.uuid4().hex}"
    v11 = package(helm4.binary, "1.1.0", home)
    for name in (ns, cm):
        stack.kubectl("dev", "create", "namespace", name)
    val = ["--set", f"apiKey={secret}"]

    def h4(*args: str, driver: str = "secret", check: bool = True) -> None:
        helm4.run(*args, *val, driver=driver, check=check)

    n = ["-n", ns]
    h4("install", "one", str(CHART), *n)
    h4("install", "two", str(CHART), *n)
    h4("upgrade", "two", str(v11), *n)
    h4("install", "twelve", str(CHART), *n)
    for i in range(11):
        h4("upgrade", "twelve", str(v11 if i % 2 == 0 else CHART), *n, "--history-max", "0")
    h4("install", "failing", str(CHART), *n)
    h4("upgrade", "failing", str(v11), *n, "--set", "failWith=3", check=False)
    h4("install", "back", str(CHART), *n)
    h4("upgrade", "back", str(v11), *n)
    helm4.run("rollback", "back", "1", *n)
    h4("install", "gone", str(CHART), *n)
    helm4.run("uninstall", "gone", *n, "--keep-history")
    h4("install", "web.v2", str(CHART), *n)
    helm3.run("install", "h3", str(CHART), *n, *val)
    helm3.run("upgrade", "h3", str(v11), *n, *val)
    h4("install", "shop.cm", str(CHART), "-n", cm, driver="configmap")
    h4("upgrade", "shop.cm", str(v11), "-n", cm, driver="configmap")
    return World(ns, cm, helm4, secret)


def tear_down(stack: Stack, world: World) -> None:
    for name in (world.ns, world.cm):
        stack.kubectl("dev", "delete", "namespace", name, "--wait=false", check=False)

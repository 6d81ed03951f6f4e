"""Fixtures of the promotion tests: logins, the backend's API and the v2 flow, the real
Helm 4 as each target's admin, packaged charts, and releases of each test's own (unique
names in `shop`, removed afterwards together with their Promotions and release locks)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from scipian_backend.promotions.lock import lock_name
from tests.conftest import Stack
from tests.e2e.promotions.world import NAMESPACE, Api, Archive, Flow, Helm, Logins, release_name
from tests.stack.releases import CHART

ENVS = ("dev", "staging", "prod")


@pytest.fixture(scope="session")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="session")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


@pytest.fixture(scope="session")
def flow(api: Api) -> Flow:
    return Flow(api)


@pytest.fixture(scope="session")
def helm(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(Path(stack.env["STACK_HELM"]), tmp_path_factory.mktemp("promo-helm"))


def chart_copy(out: Path, name: str, edit: Callable[[Path], None]) -> Path:
    """shop-web copied under `out/name` and changed by `edit` (its directory)."""
    copy = out / name / "shop-web"
    shutil.copytree(CHART, copy)
    edit(copy)
    return copy


@pytest.fixture(scope="session")
def charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    """shop-web 1.1.0 and 1.2.0, and 1.9.0 whose smoke Job fails (values.yaml sets
    failWith: the stack's KWOK fail annotation); all packaged (.tgz)."""
    out = tmp_path_factory.mktemp("promo-charts")

    def broken(chart: Path) -> None:
        values = (chart / "values.yaml").read_text().replace('failWith: ""', 'failWith: "3"')
        assert 'failWith: "3"' in values
        (chart / "values.yaml").write_text(values)
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        (chart / "Chart.yaml").write_text(yaml.safe_dump(dict(meta, version="1.9.0")))

    return {
        "1.1.0": helm.package("1.1.0", out / "ok"),
        "1.2.0": helm.package("1.2.0", out / "ok"),
        "1.9.0": helm.package("1.9.0", out / "broken", chart_copy(out, "broken", broken)),
    }


# Templates a creation render must refuse (change.md §5): not reproducible, reading the
# revision helm only knows when it runs, failing (with text that must not reach anyone).
HOSTILE_TEMPLATES = {
    "random": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: '{{ .Release.Name }}-r'}\n"
    "data: {x: '{{ randAlphaNum 12 }}'}\n",
    "revision": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: '{{ .Release.Name }}-r'}\n"
    "data: {rev: '{{ .Release.Revision }}'}\n",
    "fail": '{{ fail "render-secret-text-7f3a" }}\n',
}


@pytest.fixture(scope="session")
def hostile_charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    """shop-web 1.3.0-<kind> with one template of HOSTILE_TEMPLATES each (.tgz)."""
    out = tmp_path_factory.mktemp("promo-hostile")
    found = {}
    for kind, text in HOSTILE_TEMPLATES.items():

        def add(chart: Path, text: str = text) -> None:
            (chart / "templates" / "extra.yaml").write_text(text)

        found[kind] = helm.package(f"1.3.0-{kind}", out / kind, chart_copy(out, kind, add))
    return found


@pytest.fixture
def admin(stack: Stack, helm: Helm) -> Callable[..., object]:
    """Helm as a target's admin: `admin("dev", "history", REL, ...)`."""

    def run(env: str, *args: str, check: bool = True) -> object:
        return helm.run(stack.kubeconfig(env), *args, check=check)

    return run


@pytest.fixture
def release(stack: Stack, helm: Helm) -> Iterator[str]:
    """A release name of this test's own; afterwards its releases on every target, its
    Promotions (their values Secrets follow: owned) and its release lock are removed."""
    name = release_name()
    yield name
    cleanup(stack, helm, name)


def cleanup(stack: Stack, helm: Helm, name: str) -> None:
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json")
    for item in json.loads(out.stdout)["items"]:
        if item["spec"]["release"] == name:
            promo = item["metadata"]["name"]
            # The executor's finalizer stops execution first; never wait on it here.
            stack.kubectl(
                "mgmt", "delete", "promotion.scipian.io", promo, "--wait=false", check=False
            )
    for env in ENVS:
        helm.run(stack.kubeconfig(env), "uninstall", name, "-n", NAMESPACE, check=False)
    lease = lock_name(NAMESPACE, name)
    stack.kubectl("mgmt", "delete", "lease", "-n", "scipian-system", lease, check=False)


def history(helm: Helm, kubeconfig: Path, release: str) -> list[dict[str, object]]:
    """`helm history -o json` as the target's admin (the reference for revisions)."""
    done = helm.run(kubeconfig, "history", release, "-n", NAMESPACE, "-o", "json", check=False)
    if done.returncode != 0:
        return []
    return list(json.loads(done.stdout))

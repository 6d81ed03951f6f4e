"""The `scipian-observer` ClusterRole on the real dev apiserver, as `register` installs it
(admin.install_observer_role) and as the backend binds it (a per-user ServiceAccount with
a TokenRequest token, bound by a ClusterRoleBinding).

What it must allow, through the plugin's read code: `describe node`, `describe role`,
`get pv,sc,crd`. What it must refuse, each proven by the apiserver's own Forbidden:
Secrets, pods/exec, pods/attach, pods/portforward, serviceaccounts/token.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.parity_runner import ROOT, plugin_command

pytestmark = pytest.mark.stack
NS = "observer-role-test"
SA = "observer"


@pytest.fixture(scope="module")
def observer(dev: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig of a ServiceAccount bound to scipian-observer (what a user is issued)."""
    from scipian_backend import kube
    from scipian_backend.environments import admin

    admin.install_observer_role(kube.from_kubeconfig_file(str(dev.kubeconfig("dev"))))
    _wait_aggregated(dev)
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA, "namespace": NS}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{NS}-{SA}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": admin.OBSERVER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": NS}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": NS},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "not-for-observers", "namespace": NS},
            "stringData": {"k": "v"},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "target", "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    ]
    dev.kubectl(
        "dev",
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "items": docs, "apiVersion": "v1"}),
    )
    token = dev.kubectl("dev", "create", "token", SA, "-n", NS, "--duration=1h").stdout.strip()
    raw = json.loads(dev.kubectl("dev", "config", "view", "--raw", "-o", "json").stdout)
    cluster = raw["clusters"][0]["cluster"]
    path = tmp_path_factory.mktemp("observer") / "kubeconfig.json"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "dev", "cluster": cluster}],
                "users": [{"name": SA, "user": {"token": token}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "dev", "user": SA, "namespace": NS}}
                ],
                "current-context": "dev",
            }
        )
    )
    path.chmod(0o600)
    yield path
    dev.kubectl("dev", "delete", "clusterrolebinding", f"{NS}-{SA}", check=False)
    dev.kubectl("dev", "delete", "namespace", NS, "--wait=false", check=False)


def _wait_aggregated(dev: Stack) -> None:
    """The controller manager fills in the aggregated rules; wait until it has."""
    deadline = time.monotonic() + 60
    while True:
        role = json.loads(
            dev.kubectl("dev", "get", "clusterrole", "scipian-observer", "-o", "json").stdout
        )
        resources = {r for rule in role.get("rules") or [] for r in rule.get("resources", [])}
        if {"nodes", "pods", "customresourcedefinitions"} <= resources:
            return
        assert time.monotonic() < deadline, f"not aggregated: {sorted(resources)}"
        time.sleep(0.2)


def plugin(kubeconfig: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*plugin_command(kubeconfig, tmp / "cache"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("describe", "node", "kwok-node-0"),
        ("describe", "role", "reader", "-n", NS),
        ("get", "pv,sc,crd"),
        ("get", "nodes"),
        ("get", "clusterroles", "scipian-observer"),
        ("get", "pods", "-n", NS),
    ],
    ids=" ".join,
)
def test_observer_may(observer: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    done = plugin(observer, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "Forbidden" not in done.stderr
    if args[0] == "describe":
        assert done.stdout.startswith("Name:")


def kubectl_as_observer(
    dev: Stack, kubeconfig: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dev.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


EXCLUDED = {
    "secrets": (("get", "secret", "not-for-observers", "-n", NS), 'cannot get resource "secrets"'),
    "list-secrets": (("get", "secrets", "-A"), 'cannot list resource "secrets"'),
    "exec": (("exec", "target", "-n", NS, "--", "true"), 'cannot create resource "pods/exec"'),
    "attach": (("attach", "target", "-n", NS), 'cannot create resource "pods/attach"'),
    "port-forward": (
        ("port-forward", "pod/target", "-n", NS, "18080:80"),
        'cannot create resource "pods/portforward"',
    ),
    "token": (("create", "token", SA, "-n", NS), 'cannot create resource "serviceaccounts/token"'),
}


@pytest.mark.parametrize("case", list(EXCLUDED), ids=list(EXCLUDED))
def test_observer_may_not(dev: Stack, observer: Path, case: str) -> None:
    args, words = EXCLUDED[case]
    done = kubectl_as_observer(dev, observer, *args)
    assert done.returncode != 0
    assert "Forbidden" in done.stderr or "forbidden" in done.stderr, done.stderr
    assert words in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("verb", "resource", "subresource"),
    [
        ("get", "secrets", ""),
        ("list", "secrets", ""),
        ("create", "pods", "exec"),
        ("get", "pods", "exec"),
        ("create", "pods", "attach"),
        ("get", "pods", "attach"),
        ("create", "pods", "portforward"),
        ("get", "pods", "portforward"),
        ("create", "serviceaccounts", "token"),
        ("get", "nodes", "proxy"),
        ("create", "nodes", "proxy"),
    ],
)
def test_observer_cannot_per_authorizer(
    dev: Stack, observer: Path, verb: str, resource: str, subresource: str
) -> None:
    """The authorizer's own answer, in every namespace (`-A`), for each exclusion
    (`pods/exec` would be read as the pod named exec: subresources by flag)."""
    extra = [f"--subresource={subresource}"] if subresource else []
    done = kubectl_as_observer(dev, observer, "auth", "can-i", verb, resource, *extra, "-A")
    assert done.stdout.strip() == "no", (done.stdout, done.stderr)
    # and the question is a real one: the admin may
    admin = dev.kubectl("dev", "auth", "can-i", verb, resource, *extra, "-A", check=False)
    assert admin.stdout.strip() == "yes"

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
import uuid
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


def _role_of(env_id: str) -> str:
    from tests.stack.backend_daemon import admin_cli

    listed = admin_cli("list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    (found,) = [e for e in json.loads(listed.stdout)["items"] if e["id"] == env_id]
    return str(found["clusterRole"])


def test_register_defaults_to_observer_and_alice_observes_through_the_backend(
    stack: Stack, observer: Path, tmp_path: Path
) -> None:
    """A new environment (the dev cluster registered under a new id) gets scipian-observer;
    alice, granted it on the management cluster, reads through the backend what `view`
    cannot show and is refused Secrets; registering again keeps a role that was changed."""
    from tests.e2e.test_plugin_access import login, make_env
    from tests.stack.backend_daemon import admin_cli
    from tests.stack.login import run_plugin

    env_id = f"observe-{uuid.uuid4().hex[:6]}"
    dev = str(stack.kubeconfig("dev"))
    grant = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"scipian-env-{env_id}"},
                "rules": [
                    {
                        "apiGroups": ["scipian.io"],
                        "resources": ["environments/kubeconfig"],
                        "verbs": ["get"],
                        "resourceNames": [env_id],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"scipian-env-{env_id}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"scipian-env-{env_id}",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "oidc:alice@example.test",
                    }
                ],
            },
        ],
    }
    from scipian_backend.identity.names import IdentityKey

    binding = IdentityKey(env_id, "read", "oidc:alice@example.test").binding_name(
        "scipian-observer"
    )
    had_binding = (
        stack.kubectl("dev", "get", "clusterrolebinding", binding, check=False).returncode == 0
    )
    done = admin_cli("register", f"--name={env_id}", f"--kubeconfig={dev}", "--ttl=900")
    assert done.returncode == 0, done.stderr
    try:
        assert _role_of(env_id) == "scipian-observer"
        stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(grant))
        alice = login(stack, "alice", make_env(stack, tmp_path / "alice"))
        for args in (
            ["describe", "node", "kwok-node-0"],
            ["describe", "role", "reader", "-n", NS],
            ["get", "pv,sc,crd"],
        ):
            read = run_plugin([env_id, *args], alice)
            assert read.returncode == 0, (args, read.stderr)
            assert "Forbidden" not in read.stderr
        secrets = run_plugin([env_id, "get", "secrets", "-n", NS], alice)
        assert secrets.returncode == 1
        assert secrets.stderr.startswith("Error from server (Forbidden): secrets is forbidden")
        # an explicit role wins; registering again without one keeps it
        again = admin_cli(
            "register", f"--name={env_id}", f"--kubeconfig={dev}", "--cluster-role=view"
        )
        assert again.returncode == 0, again.stderr
        assert _role_of(env_id) == "view"
        again = admin_cli("register", f"--name={env_id}", f"--kubeconfig={dev}")
        assert again.returncode == 0, again.stderr
        assert _role_of(env_id) == "view"
    finally:
        # The binding minting made for alice to scipian-observer on dev, unless the dev
        # environment itself binds her to that role (a stack registered since it became
        # the default): then it was there before and stays.
        if not had_binding:
            stack.kubectl("dev", "delete", "clusterrolebinding", binding, check=False)
        stack.kubectl("mgmt", "delete", "environments.scipian.io", env_id, check=False)
        stack.kubectl(
            "mgmt", "delete", "secret", "-n", "scipian-system", f"{env_id}-kubeconfig", check=False
        )
        stack.kubectl(
            "mgmt",
            "delete",
            "clusterrole,clusterrolebinding",
            f"scipian-env-{env_id}",
            check=False,
        )

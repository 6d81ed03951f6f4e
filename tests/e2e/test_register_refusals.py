"""Registration refuses foot-guns, and the backend refuses broker Secrets that are not an
Environment's own or hold more than a credential (change.md §10; security review M6, L8).

Over the real admin CLI against the stack: each refusal is one line on stderr, exit 2,
and nothing written (no Environment, no broker Secret on mgmt, no broker Role in the
refused namespace, no new bindable role on the target). Over raw HTTP against the stack's
backend: an Environment of the test's own pointing at dev's broker Secret, and one whose
(own, labelled) Secret holds a kubeconfig with `exec`, are refused, and the command never
runs.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
ALICE = "oidc:alice@example.test"


def _refused(stack: Stack, env_id: str, *args: str) -> str:
    """Runs `register` expecting a refusal; returns its one stderr line."""
    done = admin_cli(
        "register", f"--name={env_id}", f"--kubeconfig={stack.kubeconfig('dev')}", *args
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, check=False).returncode
    secret = stack.kubectl(
        "mgmt", "get", "secret", "-n", "scipian-system", f"{env_id}-kubeconfig", check=False
    )
    assert secret.returncode != 0
    return lines[0]


def _bindable(stack: Stack) -> set[str]:
    role = json.loads(
        stack.kubectl("dev", "get", "clusterrole", "scipian-broker", "-o", "json").stdout
    )
    return {n for r in role["rules"] if "bind" in r["verbs"] for n in r.get("resourceNames", [])}


@pytest.mark.parametrize(
    ("namespace", "why"),
    [
        ("kube-system", "it is the cluster's own"),
        ("kube-public", "it is the cluster's own"),
        ("default", "it is the cluster's own"),
        ("scipian-sessions", "it is the sessions namespace (everyone's ServiceAccounts)"),
        ("scipian-system", "it holds the broker's ServiceAccount and token on the target"),
    ],
)
def test_refused_deploy_namespaces(stack: Stack, namespace: str, why: str) -> None:
    env_id = f"t-refuse-{uuid.uuid4().hex[:6]}"
    line = _refused(stack, env_id, "--deploy-cluster-role=view", f"--deploy-namespace={namespace}")
    assert line == f"scipian-backend: deploy namespace {namespace} refused: {why}"
    role = stack.kubectl(
        "dev", "get", "role", "scipian-broker-deploy", "-n", namespace, check=False
    )
    assert role.returncode != 0  # the broker was given nothing there


def test_the_broker_secrets_namespace_is_refused_when_the_target_is_mgmt(stack: Stack) -> None:
    env_id = f"t-refuse-{uuid.uuid4().hex[:6]}"
    namespace = f"t-secrets-{uuid.uuid4().hex[:6]}"
    done = admin_cli(
        f"--namespace={namespace}",
        "register",
        f"--name={env_id}",
        f"--kubeconfig={stack.kubeconfig('mgmt')}",
        "--deploy-cluster-role=view",
        f"--deploy-namespace={namespace}",
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"scipian-backend: deploy namespace {namespace} refused: the target is the management "
        "cluster and it holds the broker kubeconfigs\n"
    )
    assert stack.kubectl("mgmt", "get", "namespace", namespace, check=False).returncode != 0
    assert stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, check=False).returncode


@pytest.fixture
def escalating_role(stack: Stack) -> Iterator[str]:
    """A ClusterRole of the test's own on dev: `*` on roles, which includes escalate and bind."""
    name = f"t-refuse-{uuid.uuid4().hex[:6]}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["*"]},
        ],
    }
    stack.kubectl("dev", "apply", "-f", "-", input=json.dumps(role))
    try:
        yield name
    finally:
        stack.kubectl("dev", "delete", "clusterrole", name, check=False)


ALLOW = "--allow-privileged-role accepts it and records that on the Environment"
PRIVILEGED = f"it allows escalate, bind or impersonate (rights beyond its own); {ALLOW}"


@pytest.mark.parametrize(
    ("args", "role"),
    [
        (("--cluster-role=cluster-admin",), "cluster-admin"),
        (("--cluster-role=admin",), "admin"),
        (
            ("--deploy-cluster-role=cluster-admin", "--deploy-namespace=t-refuse-ns"),
            "cluster-admin",
        ),
        # edit may impersonate ServiceAccounts (read from dev's apiserver)
        (("--deploy-cluster-role=edit", "--deploy-namespace=t-refuse-ns"), "edit"),
        (("--cluster-role=ESCALATING",), "ESCALATING"),
    ],
)
def test_refused_roles(
    stack: Stack, escalating_role: str, args: tuple[str, ...], role: str
) -> None:
    args = tuple(a.replace("ESCALATING", escalating_role) for a in args)
    role = role.replace("ESCALATING", escalating_role)
    before = _bindable(stack)
    env_id = f"t-refuse-{uuid.uuid4().hex[:6]}"
    line = _refused(stack, env_id, *args)
    assert line == f"scipian-backend: ClusterRole {role} refused: {PRIVILEGED}"
    assert _bindable(stack) == before
    assert stack.kubectl("dev", "get", "namespace", "t-refuse-ns", check=False).returncode != 0


def test_a_role_missing_on_the_target_is_refused(stack: Stack) -> None:
    env_id = f"t-refuse-{uuid.uuid4().hex[:6]}"
    line = _refused(stack, env_id, "--cluster-role=t-no-such-role")
    assert line == (
        "scipian-backend: ClusterRole t-no-such-role does not exist on the target (create it first)"
    )


def test_allow_privileged_role_is_recorded_and_listed(stack: Stack) -> None:
    env_id = f"t-refuse-{uuid.uuid4().hex[:6]}"
    namespace = f"t-refuse-{uuid.uuid4().hex[:6]}"
    done = admin_cli(
        "register",
        f"--name={env_id}",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--deploy-cluster-role=edit",
        f"--deploy-namespace={namespace}",
        "--allow-privileged-role",
    )
    try:
        assert done.returncode == 0, done.stderr
        listed = admin_cli("list", "-o", "json")
        (mine,) = [e for e in json.loads(listed.stdout)["items"] if e["id"] == env_id]
        assert mine["allowPrivilegedRole"] is True
        table = admin_cli("list").stdout.splitlines()
        assert "PRIVILEGED" in table[0]
        (row,) = [r for r in table if r.startswith(env_id + " ")]
        assert "allowed" in row.split()
        # update keeps it; --no-allow-privileged-role withdraws it, and edit is refused again
        kept = admin_cli(
            "update", f"--name={env_id}", f"--kubeconfig={stack.kubeconfig('dev')}", "--ttl=1200"
        )
        assert kept.returncode == 0, kept.stderr
        withdrawn = admin_cli(
            "update",
            f"--name={env_id}",
            f"--kubeconfig={stack.kubeconfig('dev')}",
            "--no-allow-privileged-role",
        )
        assert withdrawn.returncode == 2
        assert withdrawn.stderr == f"scipian-backend: ClusterRole edit refused: {PRIVILEGED}\n"
        spec = json.loads(
            stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, "-o", "json").stdout
        )["spec"]
        assert spec["allowPrivilegedRole"] is True and spec["access"]["ttlSeconds"] == 1200
    finally:
        _remove_environment(stack, env_id)
        stack.kubectl("dev", "delete", "namespace", namespace, "--wait=false", check=False)


# --- the backend's side: which broker Secret, and what it may hold ----------------------------


def _remove_environment(stack: Stack, env_id: str) -> None:
    stack.kubectl("mgmt", "delete", "environments.scipian.io", env_id, check=False)
    stack.kubectl(
        "mgmt", "delete", "secret", "-n", "scipian-system", f"{env_id}-kubeconfig", check=False
    )
    stack.kubectl(
        "mgmt", "delete", "clusterrole,clusterrolebinding", f"scipian-env-{env_id}", check=False
    )


def _environment(stack: Stack, env_id: str, secret: str) -> None:
    """An Environment pointing at `secret` in scipian-system, granted to alice."""
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "scipian.io/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": env_id},
            "spec": {
                "credentialsSecretRef": {"namespace": "scipian-system", "name": secret},
                "access": {"clusterRole": "view", "ttlSeconds": 900},
            },
        },
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
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ALICE}],
        },
    ]
    stack.kubectl(
        "mgmt",
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    )


@pytest.fixture(scope="module")
def alice_token(stack: Stack) -> str:
    from tests.stack.idp_login import authcode_flow_tokens

    tokens = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"],
        stack.env["STACK_IDP_CLIENT_ID"],
        "alice",
        stack.env["STACK_PASSWORD"],
    )
    return str(tokens["id_token"])


def _issue(stack: Stack, env_id: str, token: str) -> requests.Response:
    return requests.post(
        f"{stack.env['SCIPIAN_BACKEND_URL']}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def test_an_environment_cannot_use_another_environments_broker_secret(
    stack: Stack, alice_token: str
) -> None:
    env_id = f"t-steal-{uuid.uuid4().hex[:6]}"
    _environment(stack, env_id, "dev-kubeconfig")  # dev's broker, labelled for dev
    try:
        answer = _issue(stack, env_id, alice_token)
        assert answer.status_code == 500, answer.text[:200]
        assert answer.json()["message"] == (
            f"environment {env_id}: its credentials Secret is not labelled "
            f"scipian.io/environment={env_id}"
        )
        assert "kubeconfig" not in answer.json()
    finally:
        _remove_environment(stack, env_id)


def test_a_broker_kubeconfig_with_exec_is_refused_and_never_run(
    stack: Stack, alice_token: str, tmp_path: Path
) -> None:
    env_id = f"t-exec-{uuid.uuid4().hex[:6]}"
    marker = tmp_path / "ran"
    dev = yaml.safe_load(stack.kubeconfig("dev").read_text())
    server = dev["clusters"][0]["cluster"]["server"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [
            {
                "name": "u",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": "sh",
                        "args": ["-c", f"touch {marker}; exit 1"],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{env_id}-kubeconfig",
            "namespace": "scipian-system",
            "labels": {"scipian.io/environment": env_id},  # its own: only the policy refuses
        },
        "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()},
    }
    stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(secret))
    _environment(stack, env_id, f"{env_id}-kubeconfig")
    try:
        answer = _issue(stack, env_id, alice_token)
        assert answer.status_code == 500, answer.text[:200]
        assert answer.json()["message"] == (
            f"environment {env_id}: broker kubeconfig refused: its user has exec "
            "(only an inline token or client certificate is accepted)"
        )
        assert not marker.exists()
    finally:
        _remove_environment(stack, env_id)

"""Identities per (environment, level, user, source) on a shared cluster (issue #25 item 2,
change.md §10, security-review H4), against the real stack: the real backend over HTTP,
the real dev apiserver over raw HTTP and with the real kubectl.

Each test registers Environments of its own on the dev cluster, with a ClusterRole of its
own (`t-ident-writer-*`: configmaps in a namespace of its own), grants them to alice on
mgmt and removes all of it at its end.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.helpers import wait_for
from tests.stack.backend_daemon import admin_cli, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack
ALICE = "oidc:alice@example.test"
SESSIONS = "scipian-sessions"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def alice_token(stack: Stack) -> str:
    """A fresh login (fresh enough for a deploy credential's step-up too)."""
    env = stack.env
    return str(
        authcode_flow_tokens(
            env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], "alice", env["STACK_PASSWORD"]
        )["id_token"]
    )


def issue(url: str, token: str, env_id: str, level: str = "read") -> requests.Response:
    body: dict[str, str] = {}
    if level == "deploy":
        body = {"level": "deploy", "justification": "identities test"}
    return http().post(
        f"{url}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=60,
    )


@dataclass
class Credential:
    """An issued kubeconfig: the raw pieces a hostile client would use, and the file."""

    server: str
    ca_file: str
    token: str
    path: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        r = http().request(
            method,
            f"{self.server}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            json=body,
            verify=self.ca_file,
            timeout=30,
        )
        return r.status_code

    def create_configmap(self, namespace: str) -> int:
        name = f"t-{uuid.uuid4().hex[:8]}"
        return self.call(
            "POST",
            f"/api/v1/namespaces/{namespace}/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}},
        )

    def kubectl(
        self, stack: Stack, *args: str, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [stack.kubectl_path, f"--kubeconfig={self.path}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def can_i(self, stack: Stack, *args: str) -> str:
        return self.kubectl(stack, "auth", "can-i", *args).stdout.strip()


def credential(answer: requests.Response, tmp: Path) -> Credential:
    assert answer.status_code == 200, answer.text
    text = answer.json()["kubeconfig"]
    doc = json.loads(text)
    cluster = doc["clusters"][0]["cluster"]
    ca = tmp / f"ca-{uuid.uuid4().hex[:6]}.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    path = tmp / f"kc-{uuid.uuid4().hex[:6]}.json"
    path.write_text(text)
    return Credential(cluster["server"], str(ca), doc["users"][0]["user"]["token"], path)


class Fixture:
    """What one test made on dev and mgmt, removed at its end."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.suffix = uuid.uuid4().hex[:6]
        self.role = f"t-ident-writer-{self.suffix}"
        self.envs: list[str] = []
        self.grants: list[str] = []
        self.namespaces: list[str] = []
        stack.kubectl(
            "dev",
            "apply",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": self.role},
                    "rules": [
                        {
                            "apiGroups": [""],
                            "resources": ["configmaps"],
                            "verbs": ["create", "get", "list"],
                        }
                    ],
                }
            ),
        )

    def namespace(self, label: str) -> str:
        ns = f"t-ident-{label}-{self.suffix}"
        self.stack.kubectl("dev", "create", "namespace", ns)
        self.namespaces.append(ns)
        return ns

    def register(self, label: str, *args: str) -> str:
        env_id = f"t-{label}-{self.suffix}"
        self.envs.append(env_id)
        out = admin_cli(
            "register",
            f"--name={env_id}",
            f"--kubeconfig={self.stack.kubeconfig('dev')}",
            "--description=identities test",
            *args,
        )
        assert out.returncode == 0, out.stderr
        return env_id

    def grant(self, env_id: str, *, deploy: bool = False) -> str:
        name = f"t-ident-grant-{env_id}"
        rules = [
            {
                "apiGroups": ["scipian.io"],
                "resources": ["environments/kubeconfig"],
                "verbs": ["get"],
                "resourceNames": [env_id],
            }
        ]
        if deploy:
            rules.append(
                {
                    "apiGroups": ["scipian.io"],
                    "resources": ["environments/deploy"],
                    "verbs": ["create"],
                    "resourceNames": [env_id],
                }
            )
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        docs = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": name},
                    "rules": rules,
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": name},
                    "roleRef": ref,
                    "subjects": [
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ALICE}
                    ],
                },
            ],
        }
        self.stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(docs))
        self.grants.append(name)
        return name

    def revoke_grant(self, name: str) -> None:
        self.stack.kubectl(
            "mgmt", "delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found"
        )

    def identities(self, env_id: str) -> dict[str, list[str]]:
        """The names of the env's identity objects on dev, per kind."""
        selector = f"scipian.io/environment={env_id}"
        out = {}
        for kind, ns in (
            ("serviceaccounts", ["-n", SESSIONS]),
            ("clusterrolebindings", []),
            ("rolebindings", ["-A"]),
        ):
            got = self.stack.kubectl("dev", "get", kind, *ns, "-l", selector, "-o", "name")
            out[kind] = got.stdout.split()
        return out

    def close(self) -> None:
        for env_id in self.envs:
            self.stack.kubectl(
                "mgmt", "delete", "environments.scipian.io", env_id, "--ignore-not-found"
            )
            self.stack.kubectl(
                "mgmt",
                "delete",
                "secret",
                "-n",
                "scipian-system",
                f"{env_id}-kubeconfig",
                "--ignore-not-found",
            )
            selector = f"scipian.io/environment={env_id}"
            self.stack.kubectl("dev", "delete", "clusterrolebindings", "-l", selector)
            self.stack.kubectl("dev", "delete", "rolebindings", "-A", "-l", selector)
            self.stack.kubectl(
                "dev", "delete", "serviceaccounts,secrets", "-n", SESSIONS, "-l", selector
            )
        for name in self.grants:
            self.revoke_grant(name)
        for ns in self.namespaces:
            self.stack.kubectl("dev", "delete", "namespace", ns, "--wait=false")
        self.stack.kubectl("dev", "delete", "clusterrole", self.role, "--ignore-not-found")


@pytest.fixture
def made(stack: Stack) -> Iterator[Fixture]:
    f = Fixture(stack)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def issued_when_granted(
    url: str, token: str, env_id: str, level: str = "read"
) -> requests.Response:
    """The grant just applied on mgmt reaches the backend's SubjectAccessReview within a
    moment (RBAC's informer); wait for that, not for anything of the backend's."""
    answers: list[requests.Response] = []

    def ok() -> bool:
        answers.append(issue(url, token, env_id, level))
        return answers[-1].status_code != 403

    wait_for("the grant to reach the backend", ok, timeout=30)
    return answers[-1]


def test_a_grant_on_another_environment_never_rides_on_the_dev_read_token(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    """H4 attack 2: `ops` (a writing role) and `dev` share the dev cluster. Alice, granted
    ops once, kept its rights in her ordinary dev read tokens after the grant and ops were
    gone (one ServiceAccount per user, shared by every Environment of the cluster)."""
    url = stack.env["SCIPIAN_BACKEND_URL"]
    ns = made.namespace("ops")
    ops = made.register("ops", f"--cluster-role={made.role}")
    grant = made.grant(ops)
    token = alice_token(stack)
    ops_cred = credential(issued_when_granted(url, token, ops), tmp)
    assert ops_cred.create_configmap(ns) == 201  # the ops grant writes, as it should
    dev_cred = credential(issue(url, token, "dev"), tmp)

    made.revoke_grant(grant)
    stack.kubectl("mgmt", "delete", "environments.scipian.io", ops)

    # Raw HTTP, as a hostile client would: the dev read token writes nothing.
    assert dev_cred.create_configmap(ns) == 403
    # And kubectl agrees, for the namespace and cluster-wide.
    assert dev_cred.can_i(stack, "create", "configmaps", "-n", ns) == "no"
    assert dev_cred.can_i(stack, "create", "configmaps", "-A") == "no"
    # Its own identity is dev's: another ServiceAccount than the ops one.
    who = dev_cred.kubectl(stack, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.stdout.startswith(f"system:serviceaccount:{SESSIONS}:scipian-dev-r-")
    assert who.stdout.split(":")[-1] not in " ".join(made.identities(ops)["serviceaccounts"])


def test_deploy_scope_of_one_environment_is_not_anothers(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    """H4 attack 1, deploy level: two Environments on one cluster deploying to different
    namespaces; a deploy credential of one reaches only its own namespaces, whatever the
    user holds on the other."""
    url = stack.env["SCIPIAN_BACKEND_URL"]
    ns_a, ns_b = made.namespace("a"), made.namespace("b")
    env_a = made.register("da", f"--deploy-namespace={ns_a}", f"--deploy-cluster-role={made.role}")
    env_b = made.register("db", f"--deploy-namespace={ns_b}", f"--deploy-cluster-role={made.role}")
    made.grant(env_a, deploy=True)
    made.grant(env_b, deploy=True)
    token = alice_token(stack)
    cred_b = credential(issued_when_granted(url, token, env_b, "deploy"), tmp)
    cred_a = credential(issued_when_granted(url, token, env_a, "deploy"), tmp)
    assert cred_b.create_configmap(ns_b) == 201
    assert cred_a.create_configmap(ns_a) == 201
    assert cred_a.create_configmap(ns_b) == 403
    assert cred_b.create_configmap(ns_a) == 403
    assert cred_a.can_i(stack, "create", "configmaps", "-n", ns_b) == "no"


def test_update_takes_removed_rights_from_live_tokens(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    """H4 attack 3: `update` dropping a deploy namespace left the binding there, so every
    token already issued (and every later one of the same user) kept the rights."""
    url = stack.env["SCIPIAN_BACKEND_URL"]
    keep, drop = made.namespace("keep"), made.namespace("drop")
    env_id = made.register(
        "upd",
        f"--deploy-namespace={keep}",
        f"--deploy-namespace={drop}",
        f"--deploy-cluster-role={made.role}",
    )
    made.grant(env_id, deploy=True)
    cred = credential(issued_when_granted(url, alice_token(stack), env_id, "deploy"), tmp)
    assert cred.create_configmap(drop) == 201

    out = admin_cli(
        "update",
        f"--name={env_id}",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        f"--deploy-namespace={keep}",
    )
    assert out.returncode == 0, out.stderr

    assert cred.create_configmap(drop) == 403  # the live token lost it at once
    assert cred.create_configmap(keep) == 201
    assert cred.can_i(stack, "create", "configmaps", "-n", drop) == "no"
    namespaces = stack.kubectl(
        "dev",
        "get",
        "rolebindings",
        "-A",
        "-l",
        f"scipian.io/environment={env_id}",
        "-o",
        "jsonpath={.items[*].metadata.namespace}",
    ).stdout.split()
    assert namespaces == [keep]


def test_unregister_removes_the_environments_identities(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    ns = made.namespace("unreg")
    env_id = made.register("unreg", f"--cluster-role={made.role}")
    made.grant(env_id)
    cred = credential(issued_when_granted(url, alice_token(stack), env_id), tmp)
    assert cred.create_configmap(ns) == 201
    assert made.identities(env_id)["serviceaccounts"]

    out = admin_cli("unregister", f"--name={env_id}")
    assert out.returncode == 0, out.stderr

    # The ServiceAccount is gone: its tokens stop (the apiserver's cache may lag briefly).
    wait_for(
        "the identity's token to be rejected",
        lambda: cred.call("GET", f"/api/v1/namespaces/{ns}/configmaps") == 401,
        timeout=30,
    )
    assert made.identities(env_id) == {
        "serviceaccounts": [],
        "clusterrolebindings": [],
        "rolebindings": [],
    }
    gone = stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_the_broker_deletes_only_bindings_scipian_manages(stack: Stack, made: Fixture) -> None:
    """The broker's new `delete` on (Cluster)RoleBindings is fenced by a
    ValidatingAdmissionPolicy on the target: an administrator's binding stays."""
    ns = made.namespace("fence")
    name = f"t-admins-own-{made.suffix}"
    stack.kubectl(
        "dev",
        "create",
        "rolebinding",
        name,
        "-n",
        ns,
        f"--clusterrole={made.role}",
        "--user=someone",
    )
    broker = stack.kubectl(
        "mgmt",
        "get",
        "secret",
        "-n",
        "scipian-system",
        "dev-kubeconfig",
        "-o",
        "jsonpath={.data.kubeconfig}",
    ).stdout
    path = Path(tempfile.mkdtemp()) / "broker.kubeconfig"
    path.write_bytes(base64.b64decode(broker))
    out = subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={path}", "delete", "rolebinding", name, "-n", ns],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    path.unlink()
    assert out.returncode != 0
    assert "scipian-broker-deletes" in out.stderr, out.stderr
    assert stack.kubectl("dev", "get", "rolebinding", name, "-n", ns, check=False).returncode == 0


@dataclass
class Legacy:
    """Alice's per-user objects as an older backend made them, with a token of them."""

    account: str
    binding: str
    credential: Credential


def legacy_identity(stack: Stack, made: Fixture, tmp: Path) -> Legacy:
    import hashlib

    user_hash = hashlib.sha256(ALICE.encode()).hexdigest()[:20]
    legacy = f"scipian-u-{user_hash}"
    binding = f"{legacy}-{hashlib.sha256(made.role.encode()).hexdigest()[:8]}"
    labels = {"app.kubernetes.io/managed-by": "scipian-backend", "scipian.io/user-hash": user_hash}
    items = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": legacy,
                "namespace": SESSIONS,
                "labels": labels,
                "annotations": {"scipian.io/user": ALICE},
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": made.role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": legacy, "namespace": SESSIONS}],
        },
    ]
    stack.kubectl(
        "dev",
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    token = stack.kubectl(
        "dev", "create", "token", legacy, "-n", SESSIONS, "--duration=10m"
    ).stdout.strip()
    dev_ca = json.loads(stack.kubectl("dev", "config", "view", "--raw", "-o", "json").stdout)[
        "clusters"
    ][0]["cluster"]
    ca = tmp / "dev-ca.crt"
    ca.write_bytes(base64.b64decode(dev_ca["certificate-authority-data"]))
    return Legacy(legacy, binding, Credential(dev_ca["server"], str(ca), token, tmp / "unused"))


def first_issuance_on_dev(stack: Stack, made: Fixture, label: str) -> None:
    """Alice's first issuance of a new identity on the dev cluster, by a backend of this
    test's own (the removal of per-user objects is once per cluster and user per process)."""
    env_id = made.register(label)
    made.grant(env_id)
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="identities"
    )
    try:
        answer = issued_when_granted(backend.url, alice_token(stack), env_id)
        assert answer.status_code == 200, answer.text
    finally:
        backend.stop()


def test_first_new_identity_removes_the_users_per_user_objects(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    """The per-user objects of before (identity version 1) are removed on the user's first
    issuance on the cluster: their tokens stop (on every environment of that cluster)."""
    ns = made.namespace("legacy")
    legacy = legacy_identity(stack, made, tmp)
    old = legacy.credential
    assert old.create_configmap(ns) == 201  # what an older backend's token could do

    first_issuance_on_dev(stack, made, "mig")

    wait_for(
        "the per-user token to be rejected",
        lambda: old.create_configmap(ns) == 401,
        timeout=30,
    )
    for kind, args in (
        ("serviceaccount", [legacy.account, "-n", SESSIONS]),
        ("clusterrolebinding", [legacy.binding]),
    ):
        got = stack.kubectl("dev", "get", kind, *args, check=False)
        assert got.returncode != 0 and "NotFound" in got.stderr


def test_the_plugin_fetches_again_once_its_per_user_credential_died(
    stack: Stack, made: Fixture, tmp: Path
) -> None:
    """Upgrading, as a user sees it: the plugin's cached dev kubeconfig came from a per-user
    identity (version 1); the user's first issuance on the cluster removed it (discovery
    says identityVersion 2); the next `kubectl scipian dev get` answers as usual from a
    credential fetched once on the cluster's 401."""
    from tests.stack.login import plugin_env, plugin_login, run_plugin

    ns = made.namespace("plugin")
    stack.kubectl("dev", "create", "configmap", "marker", "-n", ns)
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp / "config"))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        env.pop(name, None)
    done = plugin_login("alice", stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    read = run_plugin(["dev", "get", "configmaps", "-n", ns, "-o", "name"], env)
    assert read.returncode == 0 and "configmap/marker" in read.stdout, read.stderr
    # The cached kubeconfig now carries a token of the per-user identity, as before upgrading.
    legacy = legacy_identity(stack, made, tmp)
    [record_path] = list((tmp / "config").rglob("kubeconfigs/*.json"))
    record = json.loads(record_path.read_text())
    doc = json.loads(record["kubeconfig"])
    doc["users"][0]["user"]["token"] = legacy.credential.token
    record["kubeconfig"] = json.dumps(doc)
    record_path.write_text(json.dumps(record))
    before = run_plugin(["dev", "get", "configmaps", "-n", ns, "-o", "name"], env)
    assert before.returncode == 0 and "configmap/marker" in before.stdout, before.stderr
    assert legacy.credential.token in record_path.read_text()  # it was used, not replaced

    first_issuance_on_dev(stack, made, "plug")
    wait_for(
        "the per-user token to be rejected",
        lambda: legacy.credential.call("GET", f"/api/v1/namespaces/{ns}/configmaps") == 401,
        timeout=30,
    )

    after = run_plugin(["dev", "get", "configmaps", "-n", ns, "-o", "name"], env)
    assert after.returncode == 0, after.stderr
    assert "configmap/marker" in after.stdout.split()
    assert after.stderr == ""
    assert legacy.credential.token not in record_path.read_text()  # fetched anew, once

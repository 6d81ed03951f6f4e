"""Sessions on the real clusters: revocation, grant removal, concurrency, two replicas.

Every identity logs in at a real provider. Tests that change a user's state (revoke,
grants, first-time creation races) use a provider instance of this module's own with
numbered users (user001..., no groups) and a backend that trusts it, against the stack's
real clusters; the users are granted here through RBAC on mgmt and reset on the target
clusters first, so these tests never disturb the stack's users that other suites rely on.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.idp_process import IdpProcess, start_idp

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"
SESSIONS = "scipian-sessions"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def issue(url: str, token: str, env_id: str) -> requests.Response:
    return http().post(
        f"{url}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpProcess]:
    p = start_idp(tmp_path_factory.mktemp("idp"), secrets.token_urlsafe(12), extra_users=60)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def backend(stack: Stack, idp: IdpProcess) -> Iterator[BackendProcess]:
    b = spawn_backend(idp.issuer, CLIENT_ID, name="sessions")
    yield b
    b.stop()


class Users:
    """The provider's numbered users: real logins, made 'new' again on the targets."""

    def __init__(self, stack: Stack, idp: IdpProcess) -> None:
        self.stack = stack
        self.idp = idp
        self.grants: list[str] = []

    def login(self, username: str) -> str:
        tokens = authcode_flow_tokens(self.idp.issuer, CLIENT_ID, username, self.idp.password)
        return str(tokens["id_token"])

    def fresh(self, numbers: range, env_id: str) -> list[tuple[str, str]]:
        """(email, id_token) of user<N> for each N, granted `env_id` and unknown to its
        cluster: whatever an earlier run made for them there is deleted first."""
        names = [f"user{n:03d}" for n in numbers]
        emails = [f"{n}@example.test" for n in names]
        cluster = env_id
        for kind in ("serviceaccounts", "secrets", "clusterrolebindings"):
            for email in emails:
                for obj in owned(self.stack, cluster, kind, f"oidc:{email}"):
                    ns = ["-n", SESSIONS] if kind != "clusterrolebindings" else []
                    self.stack.kubectl(
                        cluster, "delete", kind, obj["metadata"]["name"], *ns, "--wait=false"
                    )
        self.grant(env_id, [f"oidc:{e}" for e in emails])
        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(self.login, names))
        return list(zip(emails, tokens, strict=True))

    def grant(self, env_id: str, users: list[str]) -> str:
        name = f"t-grant-{uuid.uuid4().hex[:8]}"
        self.stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(grant(name, env_id, users)))
        self.grants.append(name)
        for user in users[:1] + users[-1:]:
            wait_until(lambda u=user: can_i(self.stack, u, env_id) == "yes", "the grant")
        return name

    def cleanup(self) -> None:
        for name in self.grants:
            self.stack.kubectl(
                "mgmt", "delete", "clusterrolebinding,clusterrole", name,
                "--ignore-not-found", check=False,
            )  # fmt: skip


@pytest.fixture
def users(stack: Stack, idp: IdpProcess) -> Iterator[Users]:
    u = Users(stack, idp)
    yield u
    u.cleanup()


def grant(name: str, env_id: str, users: list[str]) -> dict[str, Any]:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["scipian.io"],
                "resources": ["environments/kubeconfig"],
                "verbs": ["get"],
                "resourceNames": [env_id],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": u} for u in users
        ],
    }
    return {"kind": "List", "apiVersion": "v1", "items": [role, binding]}


def can_i(stack: Stack, user: str, env_id: str) -> str:
    return stack.kubectl(
        "mgmt", "auth", "can-i", "get", f"environments.scipian.io/{env_id}",
        "--subresource=kubeconfig", f"--as={user}", check=False,
    ).stdout.strip()  # fmt: skip


def kubectl_with(stack: Stack, kubeconfig_text: str, tmp: Path, *args: str):
    path = tmp / f"{uuid.uuid4().hex}.kubeconfig"
    path.write_text(kubeconfig_text)
    return subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={path}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def admin_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scipian_backend",
            f"--mgmt-kubeconfig={stack.kubeconfig('mgmt')}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def owned(stack: Stack, cluster: str, kind: str, user: str) -> list[dict[str, Any]]:
    """Objects on a target that the backend made for `user` on the environment named like
    the cluster (by the identity's annotation and environment label)."""
    ns = ["-n", SESSIONS] if kind != "clusterrolebindings" else []
    items = json.loads(stack.kubectl(cluster, "get", kind, *ns, "-o", "json").stdout)["items"]
    return [
        o
        for o in items
        if o["metadata"].get("annotations", {}).get("scipian.io/user") == user
        and o["metadata"].get("labels", {}).get("scipian.io/environment") == cluster
    ]


def is_deploy(account: dict[str, Any]) -> bool:
    level = account["metadata"].get("annotations", {}).get("scipian.io/level")
    return bool(level == "deploy")


def wait_until(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# --- revocation ------------------------------------------------------------------------------


def test_revoke_kills_issued_tokens_at_once(
    stack: Stack, users: Users, backend: BackendProcess, tmp_path: Path
) -> None:
    (email, token), (_, bystander) = users.fresh(range(1, 3), "prod")
    first = issue(backend.url, token, "prod").json()["kubeconfig"]
    second = issue(backend.url, token, "prod").json()["kubeconfig"]
    other = issue(backend.url, bystander, "prod").json()["kubeconfig"]
    for kc in (first, second, other):
        assert kubectl_with(stack, kc, tmp_path, "get", "pods").returncode == 0
    assert len(owned(stack, "prod", "secrets", f"oidc:{email}")) == 2

    out = admin_cli(stack, "revoke", "--env=prod", f"--user={email}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"revoked 2 session(s) of oidc:{email} on prod"

    for kc in (first, second):
        # The apiserver checks the bound Secret on each request; its cache may lag briefly.
        wait_until(
            lambda kc=kc: kubectl_with(stack, kc, tmp_path, "get", "pods").returncode != 0,
            "the revoked token to be rejected",
        )
        denied = kubectl_with(stack, kc, tmp_path, "get", "pods")
        assert "Unauthorized" in denied.stderr or "provide credentials" in denied.stderr
    assert kubectl_with(stack, other, tmp_path, "get", "pods").returncode == 0
    # Revocation ends sessions, not access: a new request gets a new working token.
    fresh = issue(backend.url, token, "prod").json()["kubeconfig"]
    assert kubectl_with(stack, fresh, tmp_path, "get", "pods").returncode == 0


def test_revoke_bad_input_is_one_line(stack: Stack) -> None:
    for args, code in (
        (["revoke", "--env=no-such-env", "--user=x@example.test"], 2),
        (["revoke", "--env=Bad_Env", "--user=x@example.test"], 2),
        (["register", "--name=x", "--kubeconfig=/nonexistent"], 2),
        (["register", "--name=Bad_Name", "--kubeconfig=/nonexistent"], 2),
        (["register", "--name=x", "--kubeconfig=/nonexistent", "--ttl=5"], 2),
    ):
        out = admin_cli(stack, *args)
        assert out.returncode == code, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


def test_removing_the_grant_denies_the_next_request(
    stack: Stack, users: Users, backend: BackendProcess
) -> None:
    user = "oidc:user003@example.test"
    token = users.login("user003")
    assert issue(backend.url, token, "dev").status_code == 403
    name = users.grant("dev", [user])
    assert issue(backend.url, token, "dev").status_code == 200
    assert issue(backend.url, token, "prod").status_code == 403
    stack.kubectl("mgmt", "delete", "clusterrolebinding", name)
    wait_until(lambda: can_i(stack, user, "dev") == "no", "the removal to reach the authorizer")
    r = issue(backend.url, token, "dev")
    assert r.status_code == 403
    assert r.json()["reason"] == "Forbidden"


# --- concurrency -----------------------------------------------------------------------------


def test_50_concurrent_issuances_for_one_new_user(
    stack: Stack, users: Users, backend: BackendProcess
) -> None:
    [(email, token)] = users.fresh(range(4, 5), "dev")
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: issue(backend.url, token, "dev"), range(50)))
    assert [r.status_code for r in responses] == [200] * 50, {r.text for r in responses}
    expiries = {r.json()["expirationTimestamp"] for r in responses}
    assert expiries  # every response carries the cluster's expiry
    user = f"oidc:{email}"
    assert len(owned(stack, "dev", "serviceaccounts", user)) == 1
    assert len(owned(stack, "dev", "clusterrolebindings", user)) == 1
    assert len(owned(stack, "dev", "secrets", user)) == 50  # one bound Secret per session
    tokens = {r.json()["kubeconfig"] for r in responses}
    assert len(tokens) == 50


def test_50_concurrent_issuances_for_50_new_users(
    stack: Stack, users: Users, backend: BackendProcess
) -> None:
    fifty = users.fresh(range(11, 61), "prod")
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda u: issue(backend.url, u[1], "prod"), fifty))
    assert [r.status_code for r in responses] == [200] * 50, {r.text for r in responses}
    assert {r.json()["user"] for r in responses} == {f"oidc:{e}" for e, _ in fifty}
    sas = json.loads(
        stack.kubectl("prod", "get", "serviceaccounts", "-n", SESSIONS, "-o", "json").stdout
    )["items"]
    crbs = json.loads(stack.kubectl("prod", "get", "clusterrolebindings", "-o", "json").stdout)[
        "items"
    ]
    for email, _ in fifty:
        user = f"oidc:{email}"
        assert (
            sum(
                1
                for o in sas
                if o["metadata"].get("annotations", {}).get("scipian.io/user") == user
            )
            == 1
        )
        assert (
            sum(
                1
                for o in crbs
                if o["metadata"].get("annotations", {}).get("scipian.io/user") == user
            )
            == 1
        )


def test_50_concurrent_issuances_for_a_real_user(stack: Stack) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    token = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, "alice", stack.env["STACK_PASSWORD"]
    )["id_token"]
    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(lambda _: issue(url, token, "dev").status_code, range(50)))
    assert codes == [200] * 50
    accounts = owned(stack, "dev", "serviceaccounts", "oidc:alice@example.test")
    # Her read ServiceAccount; a deploy one (scipian-d-..., level deploy) may exist beside it.
    assert len([a for a in accounts if not is_deploy(a)]) == 1
    assert len(owned(stack, "dev", "clusterrolebindings", "oidc:alice@example.test")) == 1


# --- two replicas ----------------------------------------------------------------------------


@pytest.fixture
def replicas(stack: Stack) -> Iterator[list[BackendProcess]]:
    issuer = stack.env["STACK_IDP_ISSUER"]
    pair = [spawn_backend(issuer, CLIENT_ID, name=f"replica{i}") for i in (1, 2)]
    yield pair
    for b in pair:
        b.stop()


def test_two_replicas_serve_the_same_answers_and_survive_a_kill(
    stack: Stack, replicas: list[BackendProcess], tmp_path: Path
) -> None:
    env = stack.env
    tokens = {
        u: authcode_flow_tokens(env["STACK_IDP_ISSUER"], CLIENT_ID, u, env["STACK_PASSWORD"])[
            "id_token"
        ]
        for u in ("alice", "bob", "carol", "mallory")
    }
    a, b = replicas
    for user, token in tokens.items():
        lists = [
            http()
            .get(f"{r.url}/api/v1/environments", headers={"Authorization": f"Bearer {token}"})
            .json()
            for r in replicas
        ]
        assert lists[0] == lists[1], user
        for env_id in ("dev", "prod", "missing-env"):
            answers = [issue(r.url, token, env_id) for r in replicas]
            assert answers[0].status_code == answers[1].status_code, (user, env_id)
            assert answers[0].json().get("user") == answers[1].json().get("user")

    # Interleaved concurrent issuance over both, then one replica dies mid-way.
    with ThreadPoolExecutor(20) as pool:
        first = list(
            pool.map(lambda i: issue(replicas[i % 2].url, tokens["carol"], "prod"), range(20))
        )
    assert [r.status_code for r in first] == [200] * 20
    a.kill()
    with ThreadPoolExecutor(20) as pool:
        after = list(pool.map(lambda _: issue(b.url, tokens["carol"], "prod"), range(20)))
    assert [r.status_code for r in after] == [200] * 20
    # Nothing lived in the dead replica: its credentials still work on the cluster.
    from_a = [r.json()["kubeconfig"] for i, r in enumerate(first) if i % 2 == 0]
    for kc in from_a[:3]:
        out = kubectl_with(stack, kc, tmp_path, "get", "pods", "-A")
        assert out.returncode == 0, out.stderr
    accounts = owned(stack, "prod", "serviceaccounts", "oidc:carol@example.test")
    # Her read ServiceAccount; a deploy one (promotions, break-glass) may exist beside it.
    assert len([a for a in accounts if not is_deploy(a)]) == 1

"""Sessions on the real clusters: revocation, grant removal, concurrency, two replicas.

Tests that change a user's state (revoke, grants, first-time creation races) use fresh
identities signed by a test-held issuer key (StaticIssuer) and a backend of their own, so
they never disturb the stack's real users that other suites rely on. The rest use real
logins at the stack's provider.
"""

from __future__ import annotations

import json
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
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens

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
def static_issuer() -> Iterator[StaticIssuer]:
    issuer = StaticIssuer()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def backend(static_issuer: StaticIssuer) -> Iterator[BackendProcess]:
    b = spawn_backend(static_issuer.issuer, CLIENT_ID, name="sessions")
    yield b
    b.stop()


def fresh_user(issuer: StaticIssuer, groups: list[str]) -> tuple[str, str]:
    email = f"t-{uuid.uuid4().hex[:10]}@example.test"
    return email, issuer.sign(issuer.claims(email, groups, CLIENT_ID))


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
    """Objects on a target that the backend made for `user` (by the identity annotation)."""
    ns = ["-n", SESSIONS] if kind != "clusterrolebindings" else []
    items = json.loads(stack.kubectl(cluster, "get", kind, *ns, "-o", "json").stdout)["items"]
    return [o for o in items if o["metadata"].get("annotations", {}).get("scipian.io/user") == user]


def wait_until(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# --- revocation ------------------------------------------------------------------------------


def test_revoke_kills_issued_tokens_at_once(
    stack: Stack, static_issuer: StaticIssuer, backend: BackendProcess, tmp_path: Path
) -> None:
    email, token = fresh_user(static_issuer, ["team-b"])
    _, bystander = fresh_user(static_issuer, ["team-b"])
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
    stack: Stack, static_issuer: StaticIssuer, backend: BackendProcess
) -> None:
    email, token = fresh_user(static_issuer, [])
    user = f"oidc:{email}"
    name = f"t-grant-{uuid.uuid4().hex[:8]}"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": ["scipian.io"],
                "resources": ["environments/kubeconfig"],
                "verbs": ["get"],
                "resourceNames": ["dev"],
            }
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    assert issue(backend.url, token, "dev").status_code == 403
    stack.kubectl(
        "mgmt",
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": [role, binding]}),
    )

    def can_i() -> str:
        return stack.kubectl(
            "mgmt",
            "auth",
            "can-i",
            "get",
            "environments.scipian.io/dev",
            "--subresource=kubeconfig",
            f"--as={user}",
            check=False,
        ).stdout.strip()

    try:
        wait_until(lambda: can_i() == "yes", "the grant to reach the authorizer")
        assert issue(backend.url, token, "dev").status_code == 200
        assert issue(backend.url, token, "prod").status_code == 403
        stack.kubectl("mgmt", "delete", "clusterrolebinding", name)
        wait_until(lambda: can_i() == "no", "the removal to reach the authorizer")
        r = issue(backend.url, token, "dev")
        assert r.status_code == 403
        assert r.json()["reason"] == "Forbidden"
    finally:
        stack.kubectl(
            "mgmt",
            "delete",
            "clusterrolebinding,clusterrole",
            name,
            "--ignore-not-found",
            check=False,
        )


# --- concurrency -----------------------------------------------------------------------------


def test_50_concurrent_issuances_for_one_new_user(
    stack: Stack, static_issuer: StaticIssuer, backend: BackendProcess
) -> None:
    email, token = fresh_user(static_issuer, ["team-a"])
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
    stack: Stack, static_issuer: StaticIssuer, backend: BackendProcess
) -> None:
    users = [fresh_user(static_issuer, ["team-b"]) for _ in range(50)]
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda u: issue(backend.url, u[1], "prod"), users))
    assert [r.status_code for r in responses] == [200] * 50, {r.text for r in responses}
    assert {r.json()["user"] for r in responses} == {f"oidc:{e}" for e, _ in users}
    sas = json.loads(
        stack.kubectl("prod", "get", "serviceaccounts", "-n", SESSIONS, "-o", "json").stdout
    )["items"]
    crbs = json.loads(stack.kubectl("prod", "get", "clusterrolebindings", "-o", "json").stdout)[
        "items"
    ]
    for email, _ in users:
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
    assert len(owned(stack, "dev", "serviceaccounts", "oidc:alice@example.test")) == 1
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
    assert len(owned(stack, "prod", "serviceaccounts", "oidc:carol@example.test")) == 1

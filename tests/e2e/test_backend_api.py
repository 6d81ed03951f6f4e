"""The backend over HTTP on the real stack: the users x environments matrix, the error
contract of docs/api.md, and what a minted credential can and cannot do on its cluster.

Every token comes from a real login at the stack's OIDC provider; the backend is the
stack's own process (SCIPIAN_BACKEND_URL) with the grants of tests/stack/backend_daemon.py.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.helpers import pod_with_logs, registered_environments
from tests.prometheus_text import sample
from tests.stack.backend_daemon import spawn_backend
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack
USERS = ("alice", "bob", "carol", "dave", "mallory")


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture(scope="module")
def url(stack: Stack) -> str:
    return stack.env["SCIPIAN_BACKEND_URL"]


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    env = stack.env
    return {
        u: authcode_flow_tokens(
            env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], u, env["STACK_PASSWORD"]
        )["id_token"]
        for u in USERS
    }


def issue(url: str, token: str | None, env_id: str, **headers: str) -> requests.Response:
    h = dict(headers)
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return http().post(f"{url}/api/v1/environments/{env_id}/kubeconfig", headers=h, timeout=30)


MATRIX = [
    ("alice", "dev", 200),
    ("alice", "prod", 403),
    ("alice", "missing-env", 403),
    ("bob", "prod", 200),
    ("bob", "dev", 403),
    ("carol", "dev", 200),
    ("carol", "prod", 200),
    ("carol", "staging", 200),
    ("carol", "missing-env", 404),
    ("alice", "staging", 403),
    ("bob", "staging", 403),
    ("dave", "staging", 200),
    ("mallory", "dev", 403),
    ("mallory", "prod", 403),
    ("mallory", "missing-env", 403),
]


@pytest.mark.parametrize(("user", "env_id", "status"), MATRIX)
def test_matrix(url: str, tokens: dict[str, str], user: str, env_id: str, status: int) -> None:
    r = issue(url, tokens[user], env_id)
    assert r.status_code == status, r.text
    body = r.json()
    if status == 200:
        assert body["environment"] == env_id
        assert body["user"] == f"oidc:{user}@example.test"
        assert set(body) == {"environment", "user", "expirationTimestamp", "kubeconfig", "level"}
        assert body["level"] == "read"
    else:
        reason = {403: "Forbidden", 404: "NotFound"}[status]
        assert body["reason"] == reason
        # change.md §13: bob may ask for read access on staging (the refusal's hint, §9)
        hint = {("bob", "staging"): "read"}.get((user, env_id))
        assert body.get("requestable") == hint
        assert set(body) == {"reason", "message"} | ({"requestable"} if hint else set())


def test_forbidden_does_not_reveal_existence(url: str, tokens: dict[str, str]) -> None:
    """mallory cannot tell an existing environment from a missing one."""
    exists = issue(url, tokens["mallory"], "prod").json()
    missing = issue(url, tokens["mallory"], "no-such-env").json()
    assert exists["reason"] == missing["reason"] == "Forbidden"
    assert exists["message"].replace("prod", "X") == missing["message"].replace("no-such-env", "X")


@pytest.fixture(scope="module")
def registered(stack: Stack) -> dict[str, dict[str, Any]]:
    return registered_environments(stack)


@pytest.mark.parametrize(
    ("user", "expected"),
    # None: every registered environment (platform-admins' grant names none)
    [("alice", ["dev"]), ("bob", ["prod"]), ("carol", None), ("dave", None), ("mallory", [])],
)
def test_environment_list(
    stack: Stack,
    url: str,
    tokens: dict[str, str],
    registered: dict[str, dict[str, Any]],
    user: str,
    expected: list[str] | None,
) -> None:
    r = http().get(
        f"{url}/api/v1/environments", headers={"Authorization": f"Bearer {tokens[user]}"}
    )
    assert r.status_code == 200
    items = r.json()["items"]
    ids = [i["id"] for i in items]
    if expected is None:
        # The module's list was read earlier: what stayed registered since is listed, and
        # nothing else but what came or went meanwhile (another session on the stack).
        now = registered_environments(stack)
        assert ids == sorted(ids)
        assert set(registered) & set(now) <= set(ids) <= set(registered) | set(now)
        registered = {**registered, **now}
    else:
        assert ids == expected
    for item in items:
        spec = registered[item["id"]]
        assert item["ttlSeconds"] == spec["access"]["ttlSeconds"]
        assert item["description"] == spec["description"]


@pytest.mark.parametrize(
    "env_id",
    ["Dev", "dev_1", "-dev", "dev-", "a" * 64, "dev%2Fx", "dev/x", "%20", "d.e.v"],
)
def test_malformed_env_id_is_400_before_authentication(url: str, env_id: str) -> None:
    r = issue(url, None, env_id)
    assert r.status_code == 400, r.text
    assert r.json()["reason"] == "BadRequest"


def test_malformed_body_is_400(url: str, tokens: dict[str, str]) -> None:
    h = {"Authorization": f"Bearer {tokens['alice']}", "Content-Type": "application/json"}
    for body in (b"[1]", b"not json", b'"x"'):
        r = http().post(f"{url}/api/v1/environments/dev/kubeconfig", data=body, headers=h)
        assert r.status_code == 400, body
        assert r.json()["reason"] == "BadRequest"
    r = http().post(f"{url}/api/v1/environments/dev/kubeconfig", data=b"{}", headers=h)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6eA==", "Bearer not.a.jwt"]
)
def test_missing_or_garbled_authorization_is_401(url: str, header: str | None) -> None:
    h = {} if header is None else {"Authorization": header}
    for r in (
        http().post(f"{url}/api/v1/environments/dev/kubeconfig", headers=h),
        http().get(f"{url}/api/v1/environments", headers=h),
    ):
        assert r.status_code == 401
        assert r.json()["reason"] == "Unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_request_id_echoed_or_generated(url: str, tokens: dict[str, str]) -> None:
    mine = f"test-{uuid.uuid4().hex}"
    r = issue(url, tokens["alice"], "prod", **{"X-Request-Id": mine})
    assert r.headers["X-Request-Id"] == mine
    generated = issue(url, tokens["alice"], "prod").headers["X-Request-Id"]
    assert generated and generated != mine
    # A hostile request id is replaced, not echoed.
    r = issue(url, tokens["alice"], "prod", **{"X-Request-Id": "a b\tc"})
    assert r.headers["X-Request-Id"] != "a b\tc"


def test_discovery_and_probes(stack: Stack, url: str) -> None:
    d = http().get(f"{url}/.well-known/scipian-configuration").json()
    assert d["apiVersion"] == "v1"
    assert d["issuer"] == stack.env["STACK_IDP_ISSUER"]
    assert d["clientID"] == stack.env["STACK_IDP_CLIENT_ID"]
    assert set(d["scopes"]) >= {"openid", "email", "groups", "offline_access"}
    assert d["identityVersion"] == 2  # identities per (environment, level, user, source)
    assert http().get(f"{url}/healthz").status_code == 200
    assert http().get(f"{url}/readyz").status_code == 200
    paths = http().get(f"{url}/openapi.json").json()["paths"]
    assert "/api/v1/environments" in paths
    assert "/api/v1/environments/{env_id}/kubeconfig" in paths


def test_unknown_route_is_json_404(url: str) -> None:
    r = http().get(f"{url}/api/v2/nothing")
    assert r.status_code == 404
    assert r.json()["reason"] == "NotFound"


def test_metrics_count_issuances_and_denials(stack: Stack, tokens: dict[str, str]) -> None:
    # A backend of this test's own: the stack's counts what other tests do meanwhile.
    own = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="api-metrics"
    )
    try:
        url = own.url
        before = http().get(f"{url}/metrics").text
        assert issue(url, tokens["bob"], "prod").status_code == 200
        assert issue(url, tokens["mallory"], "prod").status_code == 403
        after = http().get(f"{url}/metrics").text
    finally:
        own.stop()
    issued = {"name": "scipian_issuances_total", "environment": "prod"}
    denied = {"name": "scipian_denials_total", "reason": "forbidden"}
    assert sample(after, **issued) == sample(before, **issued) + 1
    assert sample(after, **denied) == sample(before, **denied) + 1
    assert "# TYPE scipian_request_duration_seconds histogram" in after
    route = "/api/v1/environments/{env_id:path}/kubeconfig"
    assert sample(after, "scipian_requests_total", route=route, code="403") >= 1


# --- what a minted credential can do -------------------------------------------------------


@pytest.fixture(scope="module")
def dev_pod(stack: Stack) -> Iterator[tuple[str, str]]:
    """A running pod of this module's own in dev, with two log lines."""
    with pod_with_logs(stack, "t-backend", ["hello from web-0", "second"]) as where:
        yield where


def minted_kubeconfig(url: str, token: str, env_id: str, tmp_path: Path) -> Path:
    r = issue(url, token, env_id)
    assert r.status_code == 200, r.text
    path = tmp_path / f"{env_id}.kubeconfig"
    path.write_text(r.json()["kubeconfig"])
    return path


def kubectl_as(stack: Stack, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubeconfig_shape_and_expiry(url: str, tokens: dict[str, str]) -> None:
    body = issue(url, tokens["alice"], "dev").json()
    cfg: dict[str, Any] = yaml.safe_load(body["kubeconfig"])
    assert cfg["current-context"] == "dev"
    assert [c["name"] for c in cfg["clusters"]] == ["dev"]
    assert [u["name"] for u in cfg["users"]] == ["dev"]
    assert [c["name"] for c in cfg["contexts"]] == ["dev"]
    assert cfg["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    assert cfg["users"][0]["user"]["token"]
    expiry = time.mktime(time.strptime(body["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    lifetime = expiry - time.mktime(time.gmtime())
    assert 600 <= lifetime <= 900 + 60  # the environment's ttlSeconds, as the cluster set it


def test_minted_token_reads_pods_and_logs(
    stack: Stack, url: str, tokens: dict[str, str], dev_pod: tuple[str, str], tmp_path: Path
) -> None:
    ns, pod = dev_pod
    kc = minted_kubeconfig(url, tokens["alice"], "dev", tmp_path)
    pods = kubectl_as(stack, kc, "get", "pods", "-A", "-o", "name")
    assert pods.returncode == 0, pods.stderr
    assert f"pod/{pod}" in pods.stdout.split()
    logs = kubectl_as(stack, kc, "logs", "-n", ns, pod)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines() == ["hello from web-0", "second"]
    who = kubectl_as(stack, kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    # The identity of (dev, read, alice, standing RBAC): identity/names.py
    assert who.stdout.startswith("system:serviceaccount:scipian-sessions:scipian-dev-r-")


def test_minted_token_cannot_read_secrets_or_create(
    stack: Stack, url: str, tokens: dict[str, str], dev_pod: tuple[str, str], tmp_path: Path
) -> None:
    ns, _ = dev_pod
    kc = minted_kubeconfig(url, tokens["alice"], "dev", tmp_path)
    secrets = kubectl_as(stack, kc, "get", "secrets", "-A")
    assert secrets.returncode != 0
    assert "Forbidden" in secrets.stderr
    create = kubectl_as(stack, kc, "create", "configmap", "x", "-n", ns)
    assert create.returncode != 0
    assert "forbidden" in create.stderr
    for verb_resource in (
        ("create", "pods"),
        ("delete", "pods"),
        ("create", "serviceaccounts/token"),
        ("get", "secrets"),
        ("create", "clusterrolebindings"),
        ("impersonate", "users"),
    ):
        can = kubectl_as(stack, kc, "auth", "can-i", *verb_resource, "-A")
        assert can.stdout.strip() == "no", verb_resource


def test_token_for_one_cluster_does_not_work_on_the_other(
    stack: Stack, url: str, tokens: dict[str, str], tmp_path: Path
) -> None:
    dev = yaml.safe_load(minted_kubeconfig(url, tokens["carol"], "dev", tmp_path).read_text())
    prod = yaml.safe_load(minted_kubeconfig(url, tokens["carol"], "prod", tmp_path).read_text())
    dev["clusters"][0]["cluster"] = prod["clusters"][0]["cluster"]
    crossed = tmp_path / "crossed.kubeconfig"
    crossed.write_text(yaml.safe_dump(dev))
    out = kubectl_as(stack, crossed, "get", "pods")
    assert out.returncode != 0
    assert "Unauthorized" in out.stderr or "provide credentials" in out.stderr


def test_repeated_issuance_reuses_one_service_account(
    stack: Stack, url: str, tokens: dict[str, str]
) -> None:
    for _ in range(3):
        assert issue(url, tokens["bob"], "prod").status_code == 200
    sas = stack.kubectl(
        "prod", "get", "serviceaccounts", "-n", "scipian-sessions", "-o", "json"
    ).stdout
    mine = [
        sa
        for sa in json.loads(sas)["items"]
        if sa["metadata"].get("annotations", {}).get("scipian.io/user") == "oidc:bob@example.test"
        and sa["metadata"].get("labels", {}).get("scipian.io/environment") == "prod"
        and sa["metadata"].get("labels", {}).get("scipian.io/level") == "read"
    ]
    assert len(mine) == 1
    assert mine[0]["metadata"]["name"].startswith("scipian-prod-r-")

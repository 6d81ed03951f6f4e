"""Per-user issuance rate limit on a backend of this module's own (`--rate-limit=1/3s`,
burst 2): 429 with `Retry-After` and the error JSON, other users unaffected, and the plugin
waiting the delay and succeeding. The stack's backend runs the generous default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.test_plugin_access import login, make_env
from tests.prometheus_text import sample
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[BackendProcess]:
    b = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        CLIENT_ID,
        extra=["--rate-limit=1/3s", "--rate-limit-burst=2"],
        name="ratelimit",
    )
    yield b
    b.stop()


def token(stack: Stack, user: str) -> str:
    tokens = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, user, stack.env["STACK_PASSWORD"]
    )
    return str(tokens["id_token"])


def issue(url: str, id_token: str, env_id: str = "dev") -> requests.Response:
    return http().post(
        f"{url}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {id_token}"},
        timeout=60,
    )


def until_limited(url: str, id_token: str, env_id: str = "dev") -> requests.Response:
    for _ in range(10):
        r = issue(url, id_token, env_id)
        if r.status_code == 429:
            return r
        assert r.status_code in (200, 403), r.text
    raise AssertionError("never rate limited")


def count_429(url: str) -> int:
    text = http().get(f"{url}/metrics", timeout=10).text
    route = "/api/v1/environments/{env_id:path}/kubeconfig"
    return int(sample(text, "scipian_requests_total", route=route, code="429"))


def test_exceeding_the_limit_is_429_with_retry_after(stack: Stack, limited: BackendProcess) -> None:
    carol = token(stack, "carol")
    r = until_limited(limited.url, carol)
    assert r.json()["reason"] == "TooManyRequests"
    assert r.json()["message"].startswith("too many credential requests")
    assert r.headers["Retry-After"].isdigit()
    assert 1 <= int(r.headers["Retry-After"]) <= 3
    assert "X-Request-Id" in r.headers
    # Throttled before authorization: a forbidden env answers 429 as well, not 403.
    assert issue(limited.url, carol, "prod").status_code == 429
    # Another user has a bucket of their own.
    assert issue(limited.url, token(stack, "bob"), "prod").status_code == 200
    metrics = http().get(f"{limited.url}/metrics", timeout=10).text
    assert sample(metrics, "scipian_denials_total", reason="rate_limited") >= 1
    # Unauthenticated requests are 401, never counted against anyone's bucket.
    assert issue(limited.url, "garbage").status_code == 401


def test_plugin_waits_retry_after_and_succeeds(
    stack: Stack, limited: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "alice", make_env(stack, tmp_path / "config", limited.url))
    # Empty alice's bucket with a token of her own from the same provider (same user).
    until_limited(limited.url, token(stack, "alice"))
    before = count_429(limited.url)
    out = run_plugin(["-v", "dev", "get", "pods", "-n", "default"], env)
    assert out.returncode == 0, out.stderr
    assert "rate limited by the backend; retrying in" in out.stderr
    assert count_429(limited.url) > before  # the plugin itself was refused, then retried
    assert "Traceback" not in out.stderr

"""No token and no broker credential in any backend log captured by the suite.

Runs last among the backend tests (file name) so that it sees the logs of every backend
process the suite started (the stack's and the tests' own, all in the stack's log dir),
and exercises the paths most likely to leak (issuance, forged tokens, errors) itself.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def mgmt_secrets(stack: Stack) -> list[str]:
    """Every credential the backend holds: broker tokens and its own mgmt token."""
    found: list[str] = []
    doc = json.loads(
        stack.kubectl("mgmt", "get", "secrets", "-n", "scipian-system", "-o", "json").stdout
    )
    for secret in doc["items"]:
        for key, value in (secret.get("data") or {}).items():
            text = base64.b64decode(value).decode(errors="replace")
            if key == "token":
                found.append(text)
            elif key == "kubeconfig":
                for user in yaml.safe_load(text).get("users", []):
                    found.append(user["user"]["token"])
    return found


def test_backend_logs_hold_no_secrets(stack: Stack) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    seen: list[str] = []
    for user in ("alice", "mallory"):
        token = authcode_flow_tokens(
            stack.env["STACK_IDP_ISSUER"], "kubectl-scipian", user, stack.env["STACK_PASSWORD"]
        )["id_token"]
        seen.append(token)
        for env_id in ("dev", "prod", "missing"):
            r = http().post(
                f"{url}/api/v1/environments/{env_id}/kubeconfig",
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code == 200:
                kc = yaml.safe_load(r.json()["kubeconfig"])
                seen.append(kc["users"][0]["user"]["token"])
            else:
                assert not JWT.search(r.text), "an error response quoted a token"
        h, p, _ = token.split(".")
        forged = f"{h}.{p}.{'A' * 40}"
        r = http().post(
            f"{url}/api/v1/environments/dev/kubeconfig",
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert r.status_code == 401
        assert p not in r.text

    credentials = mgmt_secrets(stack)
    assert len(credentials) >= 3  # dev and prod brokers, the backend's own token
    logs = sorted(Path(stack.env["STACK_LOGS_DIR"]).glob("backend*.log"))
    assert logs, "no backend logs captured"
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in seen + credentials:
            assert secret not in text, f"{log.name} holds a token"
            # Not even its signature half (the part that makes it usable).
            assert secret.rsplit(".", 1)[-1] not in text, f"{log.name} holds a token signature"
        assert not JWT.search(text), f"{log.name} holds something shaped like a JWT"

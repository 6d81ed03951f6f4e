"""What the tests of credentials under access requests share: an Environment of their own
on the dev cluster (gated: one approval), grants for mallory (who holds nothing standing,
so every credential she gets comes from a request) and for carol (approve there), raw HTTP
calls with real logins, and the real kubectl on the target with an issued token.

Figures (approval → usable credential, revoke → credential failing, window end →
credential failing) are printed as `figure: ...` lines (pytest -s shows them).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import env_grant
from tests.stack.backend_daemon import admin_cli

MALLORY = "oidc:mallory@example.test"
CAROL = "oidc:carol@example.test"
SESSIONS = "scipian-sessions"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def module_env(stack: Stack, env: str, namespaces: tuple[str, ...]) -> Iterator[str]:
    """Registers `env` (gated by one approval, deploy in `namespaces`) with the module's
    grants: mallory may ask for deploy and read there, carol may approve; all removed."""
    out = admin_cli(
        "register",
        f"--name={env}",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=credentials under access requests",
        *(f"--deploy-namespace={ns}" for ns in namespaces),
        "--approvals=1",
    )
    assert out.returncode == 0, out.stderr
    manifest = as_list(
        env_grant(f"{env}-request-deploy", "request-deploy", MALLORY, [env])
        + env_grant(f"{env}-request-read", "request-read", MALLORY, [env])
        + env_grant(f"{env}-approve", "approve", CAROL, [env])
    )
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield env
    finally:
        drop_requests(stack, env)
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        stack.kubectl("mgmt", "delete", "environment", env, "--wait=false", check=False)
        for ns in namespaces:
            stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


def cancel_all(stack: Stack, api: Api, token: str, env: str) -> None:
    """The requester cancels every request of theirs on `env` that is still open (Pending
    or Approved): the next test starts with none that grants anything."""
    out = stack.kubectl(
        "mgmt", "get", "accessrequests.scipian.io", "-l", f"scipian.io/environment={env}",
        "-o", "json", check=False,
    )  # fmt: skip
    for item in json.loads(out.stdout or '{"items": []}')["items"]:
        if (item.get("status") or {}).get("phase") in ("Pending", "Approved"):
            api.call(
                "POST", f"/api/v1/accessrequests/{item['metadata']['name']}/cancel", token,
                {"justification": "k test done"},
            )  # fmt: skip


def drop_requests(stack: Stack, env: str) -> None:
    out = stack.kubectl(
        "mgmt", "get", "accessrequests.scipian.io", "-l", f"scipian.io/environment={env}",
        "-o", "name", check=False,
    )  # fmt: skip
    for name in out.stdout.split():
        stack.kubectl("mgmt", "delete", name, "--wait=false", check=False)


# --- raw HTTP ---------------------------------------------------------------------------------


def ask(api: Api, token: str, env: str, level: str, seconds: int, **more: Any) -> dict[str, Any]:
    body = {"level": level, "durationSeconds": seconds, "justification": "k creds test", **more}
    r = api.call("POST", f"/api/v1/environments/{env}/accessrequests", token, body)
    assert r.status_code == 201, r.text
    obj: dict[str, Any] = r.json()
    return obj


def act(api: Api, token: str, name: str, what: str) -> requests.Response:
    return api.call(
        "POST", f"/api/v1/accessrequests/{name}/{what}", token, {"justification": "k test"}
    )


def approved(api: Api, logins: Logins, name: str) -> dict[str, Any]:
    """carol approves (a fresh login: her own step-up); the object as answered."""
    r = act(api, logins.fresh("carol"), name, "approvals")
    assert r.status_code == 200, r.text
    obj: dict[str, Any] = r.json()
    assert obj["status"]["phase"] == "Approved", obj["status"]
    return obj


def issue(api: Api, token: str, env: str, level: str = "read", **more: Any) -> requests.Response:
    body: dict[str, Any] = {"level": level, **more}
    if level == "deploy" and "justification" not in more:
        body["justification"] = "k creds test"
    return api.call("POST", f"/api/v1/environments/{env}/kubeconfig", token, body)


def window_end(obj: dict[str, Any]) -> datetime:
    return datetime.strptime(obj["status"]["expiresAt"], STAMP).replace(tzinfo=timezone.utc)


def stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=timezone.utc)


# --- the target, with an issued credential ----------------------------------------------------


class Issued:
    """An issued kubeconfig in a private file: the real kubectl uses it; never printed."""

    def __init__(self, stack: Stack, answer: dict[str, Any], path: Path) -> None:
        path.write_text(answer["kubeconfig"])
        path.chmod(0o600)
        self.path = path
        self.stack = stack
        self.expiration = stamp(answer["expirationTimestamp"])

    def __repr__(self) -> str:
        return f"<issued kubeconfig {self.path.name}>"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.stack.kubectl_path, f"--kubeconfig={self.path}", "--request-timeout=10s", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def authenticates(self) -> bool:
        """False once the target answers 401 (the token's session Secret is gone)."""
        done = self.kubectl("get", "--raw", "/api")
        if done.returncode == 0:
            return True
        assert "Unauthorized" in done.stderr or "401" in done.stderr, done.stderr[-300:]
        return False

    def may(self, verb: str, resource: str, namespace: str) -> bool:
        done = self.kubectl("auth", "can-i", verb, resource, "-n", namespace)
        return done.stdout.strip() == "yes"

    def create_configmap(self, namespace: str, name: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl("create", "configmap", name, "-n", namespace)

    def refused(self, namespace: str) -> bool:
        """Whether the target refuses the credential a namespaced read (403 once its
        bindings are gone, at once; 401 once its session Secret is gone and the target's
        token cache, 10 s in kube-apiserver, has let go of it)."""
        done = self.kubectl("get", "configmaps", "-n", namespace, "-o", "name")
        if done.returncode == 0:
            return False
        err = done.stderr.lower()
        assert "forbidden" in err or "unauthorized" in err, done.stderr[-300:]
        return True


def sessions_of(stack: Stack, name: str) -> list[str]:
    """The session Secrets labelled with the access request on the dev cluster."""
    out = stack.kubectl(
        "dev", "get", "secrets", "-n", SESSIONS, "-l", f"scipian.io/access-request={name}",
        "-o", "name",
    )  # fmt: skip
    return out.stdout.split()


def issuance_lines(stack: Stack, name: str) -> list[dict[str, Any]]:
    """The issuance audit lines naming the access request, in every backend log."""
    found = []
    for log in sorted(Path(stack.env["STACK_LOGS_DIR"]).glob("backend*.log")):
        for raw in log.read_text(errors="replace").splitlines():
            if raw.startswith("{") and name in raw:
                line = json.loads(raw)
                if line.get("event") == "issuance" and line.get("accessRequest") == {"name": name}:
                    found.append(line)
    return found


def figure(what: str, seconds: float) -> None:
    print(f"figure: {what}: {seconds:.2f} s")


def now() -> float:
    return time.monotonic()

"""What the promotion tests share: a hostile client of the backend's promotion API (plain
requests with real id_tokens from fresh logins at the real provider), the real Helm 4 run
with the step credentials the backend issues, and the admin's view of each target."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from scipian_backend.releases.identity import chart_identity
from tests.stack import idp_login
from tests.stack.releases import CHART, helm_env

CLIENT_ID = "kubectl-scipian"
NAMESPACE = "shop"
LOGIN_REUSE = 120.0  # seconds a login is reused: well inside every maxAuthAgeSeconds (300)
HELM_TIMEOUT = "90s"
VERIFY_BOUND = 120.0  # a bound on polling, not a timing assertion


@dataclass
class Logins:
    """Fresh logins at the real provider (authorization code + PKCE, a new browser each)."""

    issuer: str
    password: str
    _cache: dict[str, tuple[float, str]] = field(default_factory=dict)

    def fresh(self, user: str) -> str:
        tokens = idp_login.authcode_flow_tokens(self.issuer, CLIENT_ID, user, self.password)
        token = str(tokens["id_token"])
        self._cache[user] = (time.monotonic(), token)
        return token

    def token(self, user: str) -> str:
        cached = self._cache.get(user)
        if cached is not None and time.monotonic() - cached[0] < LOGIN_REUSE:
            return cached[1]
        return self.fresh(user)


@dataclass
class Api:
    """The backend's HTTP API, called directly."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False

    def call(
        self, method: str, path: str, token: str | None, body: Any = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.session.request(method, self.url + path, headers=headers, json=body, timeout=60)

    def create(self, token: str, **body: Any) -> requests.Response:
        return self.call("POST", "/api/v1/promotions", token, body)

    def get(self, token: str, name: str) -> requests.Response:
        return self.call("GET", f"/api/v1/promotions/{name}", token)

    def step(
        self, token: str, name: str, env: str, what: str, body: Any = None
    ) -> requests.Response:
        return self.call("POST", f"/api/v1/promotions/{name}/steps/{env}/{what}", token, body)

    def approve(self, token: str, name: str, env: str, why: str) -> requests.Response:
        return self.step(token, name, env, "approvals", {"justification": why})

    def resume(self, token: str, name: str, identity: str) -> requests.Response:
        return self.call(
            "POST", f"/api/v1/promotions/{name}/resume", token, {"chartIdentity": identity}
        )


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    def run(
        self, kubeconfig: Path, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args],
            env=helm_env(self.home, kubeconfig),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args[:2])}: {done.stderr[-500:]}")
        return done

    def identity(self, release: str, chart: Path, *values: str) -> str:
        """The chart's identity as the plugin computes it: from Helm's own loading of it."""
        out = self.run(
            Path(os.devnull),
            "install", release, str(chart), "-n", NAMESPACE, "--dry-run=client", "-o", "json",
            *values,
        )  # fmt: skip
        return chart_identity(json.loads(out.stdout)["chart"])

    def package(self, version: str, out: Path) -> Path:
        app = version.rsplit(".", 1)[0]
        self.run(
            Path(os.devnull),
            "package", str(CHART), "--version", version, "--app-version", app, "-d", str(out),
        )  # fmt: skip
        return out / f"shop-web-{version}.tgz"


def release_name(prefix: str = "t-pr") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_kubeconfig(directory: Path, answer: dict[str, Any]) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{answer['environment']}-{uuid.uuid4().hex[:6]}.kubeconfig"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(answer["kubeconfig"])
    return path


def upgrade_args(release: str, chart: Path, *values: str) -> list[str]:
    """The plugin's step: `helm upgrade --install --atomic --wait` in Helm 4's words."""
    return [
        "upgrade", "--install", release, str(chart), "-n", NAMESPACE,
        "--rollback-on-failure", "--wait", "--timeout", HELM_TIMEOUT, *values,
    ]  # fmt: skip


@dataclass
class Driver:
    """Runs a promotion's steps as the plugin would, through the HTTP API."""

    api: Api
    helm: Helm
    workdir: Path

    def run_step(
        self, token: str, name: str, env: str, release: str, chart: Path, *values: str
    ) -> dict[str, Any]:
        """Credential → real helm → report → verify until the step is done; the Promotion."""
        got = self.api.step(token, name, env, "kubeconfig")
        assert got.status_code == 200, got.text
        kubeconfig = write_kubeconfig(self.workdir, got.json())
        try:
            done = self.helm.run(kubeconfig, *upgrade_args(release, chart, *values), check=False)
        finally:
            kubeconfig.unlink()
        last = (done.stderr.strip().splitlines() or [""])[-1][:1024]
        report = {"helmExitCode": done.returncode, "message": last if done.returncode else ""}
        answer = self.api.step(token, name, env, "report", report)
        assert answer.status_code == 200, answer.text
        return self.wait_step(token, name, env, answer.json())

    def wait_step(self, token: str, name: str, env: str, promo: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + VERIFY_BOUND
        while step_of(promo, env)["phase"] == "Verifying":
            assert time.monotonic() < deadline, promo["status"]
            time.sleep(0.5)
            answer = self.api.step(token, name, env, "verify")
            assert answer.status_code == 200, answer.text
            promo = answer.json()
        return dict(promo)


def step_of(promo: dict[str, Any], env: str) -> dict[str, Any]:
    [step] = [s for s in promo["status"]["steps"] if s["environment"] == env]
    return dict(step)


def plan(
    release: str, identity: str, version: str, through: list[str], **more: Any
) -> dict[str, Any]:
    """A create request's body: the chart shop-web at `version`, in namespace shop."""
    return {
        "release": release,
        "namespace": NAMESPACE,
        "chart": {"name": "shop-web", "version": version, "identity": identity},
        "through": through,
        "justification": f"promote {release} {version} (test)",
        **more,
    }

"""What the promotion tests share: a hostile client of the backend's promotion API (plain
requests with real id_tokens from fresh logins at the real provider), the real Helm 4 as
each target's admin (to package charts and to read what the backend did), and the v2
flow: upload an archive, create, watch with the long poll, approve with the diff's digest,
cancel. The backend runs every step itself: no test holds a step credential."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e import chart_upload
from tests.stack import idp_login
from tests.stack.releases import CHART, helm_env

CLIENT_ID = "kubectl-scipian"
NAMESPACE = "shop"
LOGIN_REUSE = 120.0  # seconds a login is reused: well inside every maxAuthAgeSeconds (300)
WAIT_BOUND = 240.0  # a bound on waiting for the executor, not a timing assertion
TERMINAL = ("Succeeded", "Failed", "Cancelled")


class Token(str):
    """An id_token that never shows in a failure's report (pytest prints the arguments of
    every frame; the secret-hygiene check fails a run on any JWT there)."""

    def __repr__(self) -> str:
        return "<id_token>"


@dataclass
class Logins:
    """Fresh logins at the real provider (authorization code + PKCE, a new browser each)."""

    issuer: str
    password: str = field(repr=False)
    # never in a failure's report: the secret-hygiene check fails a run on any JWT there
    _cache: dict[str, tuple[float, Token]] = field(default_factory=dict, repr=False)

    def fresh(self, user: str) -> Token:
        tokens = idp_login.authcode_flow_tokens(self.issuer, CLIENT_ID, user, self.password)
        token = Token(tokens["id_token"])
        self._cache[user] = (time.monotonic(), token)
        return token

    def token(self, user: str) -> Token:
        cached = self._cache.get(user)
        if cached is not None and time.monotonic() - cached[0] < LOGIN_REUSE:
            return cached[1]
        return self.fresh(user)


@dataclass(frozen=True)
class Archive:
    """A packaged chart: its bytes and what the create body names it by."""

    path: Path
    name: str
    version: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def ref(self) -> dict[str, str]:
        return {"digest": self.digest, "name": self.name, "version": self.version}


@dataclass
class Api:
    """The backend's HTTP API, called directly."""

    url: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.trust_env = False

    def call(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        timeout: float = 90,
        **kw: Any,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        return self.session.request(
            method, self.url + path, headers=headers, json=body, timeout=timeout, **kw
        )

    def upload(self, token: str, chart: Archive, through: list[str]) -> requests.Response:
        """`PUT /api/v1/charts/sha256:<hex>?through=…` (change.md §5; tests/e2e/chart_upload.py)."""
        return chart_upload.upload(self.url, token, chart.data, through, session=self.session)

    def create(self, token: str, **body: Any) -> requests.Response:
        return self.call("POST", "/api/v1/promotions", token, body)

    def get(self, token: str, name: str) -> requests.Response:
        return self.call("GET", f"/api/v1/promotions/{name}", token)

    def watch(self, token: str, name: str, resource_version: str) -> requests.Response:
        """The long poll: returns as soon as the Promotion differs from that version."""
        return self.call(
            "GET",
            f"/api/v1/promotions/{name}",
            token,
            params={"watch": "true", "resourceVersion": resource_version},
            timeout=150,
        )

    def step(
        self, token: str, name: str, env: str, what: str, body: Any = None
    ) -> requests.Response:
        return self.call("POST", f"/api/v1/promotions/{name}/steps/{env}/{what}", token, body)

    def approve(
        self, token: str, name: str, env: str, why: str, digest: str | None
    ) -> requests.Response:
        body: dict[str, Any] = {"justification": why}
        if digest is not None:
            body["diffDigest"] = digest
        return self.step(token, name, env, "approvals", body)

    def cancel(self, token: str, name: str, why: str) -> requests.Response:
        return self.call("POST", f"/api/v1/promotions/{name}/cancel", token, {"justification": why})


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

    def package(self, version: str, out: Path, chart: Path = CHART) -> Archive:
        app = version.rsplit(".", 1)[0]
        out.mkdir(parents=True, exist_ok=True)
        done = self.run(
            Path(os.devnull),
            "package", str(chart), "--version", version, "--app-version", app, "-d", str(out),
        )  # fmt: skip
        path = Path(done.stdout.strip().rsplit(": ", 1)[-1])
        name = path.name[: -len(f"-{version}.tgz")]
        return Archive(path, name, version)


def upgrade_args(release: str, chart: Archive | Path, *values: str) -> list[str]:
    """A target admin's own `helm upgrade --install --wait` (releases a test starts from)."""
    path = chart.path if isinstance(chart, Archive) else chart
    return [
        "upgrade", "--install", release, str(path), "-n", NAMESPACE,
        "--rollback-on-failure", "--wait", "--timeout", "90s", *values,
    ]  # fmt: skip


def release_name(prefix: str = "t-pr") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def values_file(name: str, text: str) -> dict[str, str]:
    """One entry of the create body's `values` lists."""
    return {"name": name, "contentBase64": base64.b64encode(text.encode()).decode()}


def plan(release: str, chart: Archive, through: list[str], **more: Any) -> dict[str, Any]:
    """A create request's body: `chart` (uploaded) through `through`, in namespace shop."""
    return {
        "release": release,
        "namespace": NAMESPACE,
        "chart": chart.ref(),
        "through": through,
        "justification": f"promote {release} {chart.version} (test)",
        **more,
    }


def rollback_plan(release: str, revision: int, env: str, **more: Any) -> dict[str, Any]:
    """A one-step rollback's create body (change.md §7)."""
    return {
        "release": release,
        "namespace": NAMESPACE,
        "rollbackTo": revision,
        "through": [env],
        "justification": f"roll {release} back to revision {revision} (test)",
        **more,
    }


def step_of(promo: dict[str, Any], env: str) -> dict[str, Any]:
    [step] = [s for s in promo["status"]["steps"] if s["environment"] == env]
    return dict(step)


def phase(promo: dict[str, Any]) -> str:
    return str((promo.get("status") or {}).get("phase") or "")


@dataclass
class Flow:
    """The v2 flow over raw HTTP: upload + create, then watch until something holds."""

    api: Api

    def start(
        self, token: str, release: str, chart: Archive, through: list[str], **more: Any
    ) -> dict[str, Any]:
        """Uploads the archive for the chain and creates the promotion (201 expected)."""
        up = self.api.upload(token, chart, through)
        assert up.status_code in (200, 201), up.text
        created = self.api.create(token, **plan(release, chart, through, **more))
        assert created.status_code == 201, created.text
        return dict(created.json())

    def until(
        self, token: str, promo: dict[str, Any], done: Any, bound: float = WAIT_BOUND
    ) -> dict[str, Any]:
        """Long polls until `done(promo)`; the Promotion then. Bounded, not timed."""
        name = promo["metadata"]["name"]
        deadline = time.monotonic() + bound
        while not done(promo):
            assert time.monotonic() < deadline, promo.get("status")
            assert phase(promo) not in TERMINAL, promo.get("status")  # it will not change
            rv = promo["metadata"]["resourceVersion"]
            answer = self.api.watch(token, name, rv)
            assert answer.status_code == 200, answer.text
            promo = answer.json()
        return promo

    def finished(
        self, token: str, promo: dict[str, Any], bound: float = WAIT_BOUND
    ) -> dict[str, Any]:
        return self.until(token, promo, lambda p: phase(p) in TERMINAL, bound)

    def awaiting(self, token: str, promo: dict[str, Any], env: str) -> dict[str, Any]:
        """Until step `env` waits for approvals (or the promotion has finished)."""
        return self.until(
            token,
            promo,
            lambda p: phase(p) in TERMINAL or step_of(p, env)["phase"] == "AwaitingApproval",
        )

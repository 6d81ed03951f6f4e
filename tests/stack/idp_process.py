"""Start and stop the local OIDC provider (tests/idp, npm oidc-provider) for one test run.

    idp = start_idp(tmp_path, password="...", id_token_ttl=5)
    try:
        ... idp.issuer, idp.client_id, idp.rotate_keys() ...
    finally:
        idp.stop()

The provider picks a free port on 127.0.0.1 and reports its issuer through a ready file;
its stdout and stderr go to ``<workdir>/idp.log``. ``npm ci`` runs first when
tests/idp/node_modules is missing or older than package-lock.json.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

IDP_SRC = Path(__file__).resolve().parents[1] / "idp"
CLIENT_ID = "kubectl-scipian"
TTL_VARS = {
    "id_token_ttl": "IDP_ID_TOKEN_TTL",
    "access_token_ttl": "IDP_ACCESS_TOKEN_TTL",
    "refresh_token_ttl": "IDP_REFRESH_TOKEN_TTL",
    "device_code_ttl": "IDP_DEVICE_CODE_TTL",
    "device_interval": "IDP_DEVICE_INTERVAL",
    "extra_users": "IDP_EXTRA_USERS",  # user001..userN, no groups
}


@dataclass
class IdpProcess:
    issuer: str
    admin_secret: str
    password: str
    client_id: str
    log_path: Path
    startup_seconds: float
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers. Safe to call twice."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def admin(self, action: str) -> dict[str, Any]:
        """Calls a test-only admin route: "rotate", "retire" (POST) or "keys" (GET)."""
        method = "GET" if action == "keys" else "POST"
        session = requests.Session()
        session.trust_env = False
        response = session.request(
            method,
            f"{self.issuer}/admin/{action}",
            headers={"X-Admin-Secret": self.admin_secret},
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def rotate_keys(self) -> dict[str, Any]:
        return self.admin("rotate")

    def retire_keys(self) -> dict[str, Any]:
        return self.admin("retire")


def ensure_installed(src: Path = IDP_SRC) -> None:
    """Runs ``npm ci`` unless node_modules matches the current package-lock.json."""
    marker = src / "node_modules" / ".installed"
    with open(src / "package-lock.json", "rb") as lock:  # also serialises concurrent installs
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock_hash = hashlib.sha256(lock.read()).hexdigest()
        if marker.is_file() and marker.read_text().strip() == lock_hash:
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=src,
            check=True,
            timeout=600,
        )
        marker.write_text(lock_hash + "\n")


def start_idp(
    workdir: Path,
    password: str,
    *,
    client_id: str = CLIENT_ID,
    admin_secret: str | None = None,
    timeout: float = 30.0,
    **ttl: int,
) -> IdpProcess:
    """Starts the provider and waits until it serves; ``ttl`` keys are those of TTL_VARS."""
    unknown = set(ttl) - set(TTL_VARS)
    if unknown:
        raise TypeError(f"unknown provider settings: {', '.join(sorted(unknown))}")
    ensure_installed()
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "idp.issuer"
    ready.unlink(missing_ok=True)
    secret = admin_secret or secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "IDP_PORT": "0",
        "IDP_PASSWORD": password,
        "IDP_CLIENT_ID": client_id,
        "IDP_ADMIN_SECRET": secret,
        "IDP_READY_FILE": str(ready),
        **{TTL_VARS[name]: str(value) for name, value in ttl.items()},
    }
    log_path = workdir / "idp.log"
    started = time.monotonic()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            ["node", str(IDP_SRC / "server.mjs")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        issuer = _wait_ready(process, ready, log_path, timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return IdpProcess(
        issuer, secret, password, client_id, log_path, time.monotonic() - started, process
    )


def _wait_ready(process: subprocess.Popen[bytes], ready: Path, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.is_file():
            issuer = ready.read_text().strip()
            if issuer:
                return issuer
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"OIDC provider exited with {process.returncode}:\n{tail}")
        time.sleep(0.02)
    raise TimeoutError(f"OIDC provider not ready after {timeout:.0f}s; see {log}")

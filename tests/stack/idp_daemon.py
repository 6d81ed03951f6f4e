"""The stack's OIDC provider (npm oidc-provider, tests/idp) as a daemon."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.stack import procs
from tests.stack.idp_process import ensure_installed
from tests.stack.paths import IDP_SRC, stack_dir

CLIENT_ID = "kubectl-scipian"
UI_CLIENT_ID = "scipian-dashboard"  # the backend's /ui/, a confidential client of its own


def start(
    password: str,
    admin_secret: str,
    timeout: float = 60.0,
    ui_secret: str = "",
    ui_redirect_uris: tuple[str, ...] = (),
) -> str:
    """Starts the provider and returns its issuer URL; with `ui_secret`, the dashboard's
    client is registered with `ui_redirect_uris`."""
    ensure_installed()
    ready = stack_dir() / "idp.issuer"
    ready.unlink(missing_ok=True)
    env = dict(
        os.environ,
        IDP_PORT="0",
        IDP_PASSWORD=password,
        IDP_ADMIN_SECRET=admin_secret,
        IDP_CLIENT_ID=CLIENT_ID,
        IDP_READY_FILE=str(ready),
        IDP_ID_TOKEN_TTL=os.environ.get("STACK_ID_TOKEN_TTL", "3600"),
    )
    if ui_secret:
        env.update(
            IDP_UI_CLIENT_ID=UI_CLIENT_ID,
            IDP_UI_CLIENT_SECRET=ui_secret,
            IDP_UI_REDIRECT_URIS=",".join(ui_redirect_uris),
        )
    # The ready file on the command line marks the process as this stack's (procs.strays).
    procs.spawn(
        "idp", ["node", str(IDP_SRC / "server.mjs"), f"--stack-ready-file={ready}"], env=env
    )
    return wait_ready(ready, timeout)


def wait_ready(ready: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready.exists() and ready.read_text().strip():
            return ready.read_text().strip()
        if "idp" in procs.dead():
            raise RuntimeError(f"OIDC provider exited; see {procs.log_dir() / 'idp.log'}")
        time.sleep(0.1)
    raise TimeoutError(f"OIDC provider not ready after {timeout:.0f}s")

"""`scripts/stack up|down|status`: the whole local stack in one place."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import ssl
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests import tools
from tests.stack import (
    backend_daemon,
    balancer,
    clusters,
    envfile,
    harness,
    idp_daemon,
    node,
    procs,
    providers,
    releases,
)
from tests.stack.paths import ROOT, kubectl, stack_dir

PLUGIN_CONFIG_VAR = "KUBECTL_SCIPIAN_CONFIG_DIR"


def healthy() -> bool:
    """True when .stack/env exists and every tracked process is alive."""
    env = envfile.read()
    if not env or not procs.tracked() or procs.dead():
        return False
    if not all(_reachable(url) for url in (env.get("STACK_IDP_ISSUER", ""),)):
        return False
    backend = env.get("SCIPIAN_BACKEND_URL", "")
    return bool(backend) and backend_daemon.reachable(backend + "/healthz")


def _reachable(url: str) -> bool:
    if not url:
        return False
    try:
        ctx = ssl.create_default_context()
        with urllib.request.urlopen(  # noqa: S310 - loopback URL written by this module
            url.rstrip("/") + "/.well-known/openid-configuration", timeout=3, context=ctx
        ):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """Serializes up/down across processes: two test sessions (or a person and a test)
    starting the same stack at once would otherwise tear down each other's half-built one."""
    lock = stack_dir().with_name(stack_dir().name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def up(idp: str = providers.DEFAULT) -> dict[str, str]:
    """Starts (or finds) the stack; `idp` names the provider pair .stack/env points at."""
    with _exclusive():
        env = envfile.read() if healthy() else None
        if env is None:
            _stop(quiet=True)
            env = _start()
        if idp != providers.DEFAULT:
            env = _with_dex(env)
        env = providers.select(env, idp)
        envfile.write(env)
        return env


def _up() -> tuple[dict[str, str], bool]:
    """The stack's env, and whether this call started it."""
    with _exclusive():
        # Checked under the lock: whoever waited finds the stack the other one started.
        if healthy():
            return envfile.read(), False
        _stop(quiet=True)
        return _start(), True


def ensure_dex() -> dict[str, str]:
    """The running stack's env with the Dex pair started if it is not yet (the selected pair,
    STACK_IDP, is left as it is). For tests: one Dex per stack, shared by every session."""
    with _exclusive():
        env = envfile.read()
        if not healthy():
            raise RuntimeError("the stack is not running")
        if not providers.has(env, providers.DEX):
            env = _with_dex(env)
            envfile.write(env)
        return env


def _with_dex(env: dict[str, str]) -> dict[str, str]:
    if providers.has(env, providers.DEX):
        return env
    started = time.monotonic()
    values = providers.start_dex(env["STACK_PASSWORD"])
    print(
        f"stack: Dex, slapd and their backend up in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return {**env, **values}


def _start() -> dict[str, str]:
    started = time.monotonic()
    binary = harness.build()
    state = stack_dir()
    # A fresh stack every time nothing is running: no stale tokens or objects.
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True, mode=0o700)
    (state / "plugin-config").mkdir(mode=0o700)
    password = secrets.token_urlsafe(12)
    admin_secret = secrets.token_urlsafe(24)
    # The backend's port (its balancer's, with replicas) is chosen first: the dashboard's
    # redirect URI, registered at the provider when it starts, is under the backend's URL.
    backend_port = backend_daemon.free_port()
    backend_daemon.write_ui_secret(secrets.token_urlsafe(32))
    # The real helms (cached by hash; cold, Helm 4 takes minutes) build while clusters start.
    helms = ThreadPoolExecutor(1).submit(lambda: (tools.helm4(), tools.helm()))
    try:
        for spec in clusters.CLUSTERS:
            clusters.start(spec, binary)
        issuer = idp_daemon.start(
            password,
            admin_secret,
            ui_secret=backend_daemon.ui_secret_file().read_text(),
            ui_redirect_uris=(backend_daemon.ui_callback(backend_port),),
        )
        for spec in clusters.CLUSTERS:
            clusters.wait_kubeconfig(spec.name)
        with ThreadPoolExecutor(len(clusters.CLUSTERS)) as pool:
            list(pool.map(lambda s: clusters.prepare(s, binary), clusters.CLUSTERS))
        # The backend runs the stack's Helm 4 itself (change.md §5): it waits for the build.
        helm4, helm3 = helms.result()
        backends = backend_daemon.start(
            issuer, idp_daemon.CLIENT_ID, port=backend_port, helm=str(helm4)
        )
        backend_url = backends["SCIPIAN_BACKEND_URL"]
        releases.install(helm4, tuple(c.name for c in clusters.CLUSTERS if c.name != "mgmt"))
    except BaseException:
        _stop(quiet=True)
        raise
    values = {
        "STACK_DIR": str(state),
        "STACK_IDP_ISSUER": issuer,
        "STACK_IDP_CLIENT_ID": idp_daemon.CLIENT_ID,
        "STACK_UI_URL": backend_url + "/ui/",
        "STACK_IDP_ADMIN_SECRET": admin_secret,
        "STACK_PASSWORD": password,
        "STACK_USERS": "alice bob carol dave mallory",
        "STACK_MGMT_KUBECONFIG": str(clusters.admin_kubeconfig("mgmt")),
        "STACK_DEV_KUBECONFIG": str(clusters.admin_kubeconfig("dev")),
        "STACK_STAGING_KUBECONFIG": str(clusters.admin_kubeconfig("staging")),
        "STACK_PROD_KUBECONFIG": str(clusters.admin_kubeconfig("prod")),
        "STACK_KUBECTL": str(kubectl()),
        "STACK_HARNESS": str(binary),
        "STACK_HELM": str(helm4),
        "STACK_HELM3": str(helm3),
        "STACK_LOGS_DIR": str(procs.log_dir()),
        PLUGIN_CONFIG_VAR: str(state / "plugin-config"),
        **backends,
        "STACK_IDP": providers.DEFAULT,
        **providers.default_values(issuer, backend_url),
    }
    envfile.write(values)
    print(f"stack: up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return values


def down(quiet: bool = False) -> int:
    with _exclusive():
        return _stop(quiet)


def _stop(quiet: bool = False) -> int:
    # The real node first, while mgmt still answers (its pods are deleted, then the host is
    # restored); a crashed run's .stack/host-before.json is restored here too, before the
    # next `up` replaces .stack.
    for problem in node.down(quiet=True):
        print(f"stack: real node: {problem}", file=sys.stderr)
    survivors = procs.stop_all()
    # Every process of ours names the state dir on its command line (the IdP too: see
    # idp_daemon), so anything that lost its pid file is still found and stopped.
    strays = procs.kill_strays(str(stack_dir()) + os.sep)
    if strays and not quiet:
        print(f"stack: stopped {len(strays)} untracked process(es)", file=sys.stderr)
    if survivors:
        print(f"stack: could not stop {', '.join(survivors)}", file=sys.stderr)
        return 1
    env = envfile.env_path()
    env.unlink(missing_ok=True)
    if not quiet:
        print("stack: down", file=sys.stderr)
    return 0


def status() -> int:
    tracked = procs.tracked()
    if not tracked:
        print("stack: not running")
        return 1
    for name, pid in tracked.items():
        print(f"{name:28} pid {pid:<8} {'running' if procs.alive(pid) else 'DEAD'}")
    env = envfile.read()
    replicas = int(env.get(backend_daemon.REPLICAS_VAR) or 1)
    for i in range(replicas if replicas > 1 else 0):
        url = env.get(backend_daemon.replica_url_var(i), "")
        ok = bool(url) and backend_daemon.reachable(url + "/healthz")
        print(f"{f'backend replica {i}':28} {url} {'healthy' if ok else 'NOT RESPONDING'}")
    socket_path = env.get("STACK_BALANCER_SOCKET")
    if socket_path:
        with contextlib.suppress(OSError):
            states = balancer.server_states(Path(socket_path))
            line = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            print(f"{'balancer sees':28} {line}")
    for name in providers.NAMES:
        backend = env.get(f"{providers.KEYS[name]}_BACKEND_URL")
        if backend:
            ok = backend_daemon.reachable(backend + "/healthz")
            label = f"backend url ({name})"
            print(f"{label:28} {backend} {'healthy' if ok else 'NOT RESPONDING'}")
    if env.get("STACK_IDP"):
        print(f"{'selected provider':28} {env['STACK_IDP']}")
    return 0 if healthy() else 1


def main(argv: list[str]) -> int:
    usage = (
        "usage: scripts/stack up [--idp oidc-provider|dex]|down|status|build|login USER"
        "|node up|node down"
    )
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd = argv[0]
    os.chdir(ROOT)
    if cmd == "up":
        idp = _idp_option(argv[1:])
        if idp is None:
            print(usage, file=sys.stderr)
            return 2
        up(idp)
        print("READY")
        return 0
    if cmd == "down":
        return down()
    if cmd == "status":
        return status()
    if cmd == "build":
        print(harness.build())
        print(tools.dex())
        print(harness.kubelet())  # the real node's (docs/stack.md "Real node")
        return 0
    if cmd == "node":
        return node.main(argv[1:])
    if cmd == "login":
        from tests.stack.login import login_cli

        return login_cli(argv[1:])
    print(usage, file=sys.stderr)
    return 2


def _idp_option(args: list[str]) -> str | None:
    """`--idp NAME` / `--idp=NAME` (default oidc-provider); None when the words are wrong."""
    if not args:
        return providers.DEFAULT
    if len(args) == 2 and args[0] == "--idp":
        name = args[1]
    elif len(args) == 1 and args[0].startswith("--idp="):
        name = args[0].removeprefix("--idp=")
    else:
        return None
    return name if name in providers.NAMES else None


def env_or_up() -> tuple[dict[str, str], bool]:
    """For test fixtures: reuse a healthy stack or start one (and say so)."""
    if healthy():
        return envfile.read(), False
    return _up()

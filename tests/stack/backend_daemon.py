"""The Scipian backend in the local stack: its mgmt identity, environments, grants, server.

`start(issuer, client_id)` (called by stack.up once the clusters are prepared):

1. applies backend/scipian_backend/manifests/rbac.yaml on mgmt and writes a kubeconfig for the
   backend's own least-privilege ServiceAccount (the server never runs as cluster-admin);
2. registers `dev`, `staging` and `prod` through the admin CLI (`python -m scipian_backend
   register`), which installs the broker on each target and stores the broker kubeconfig on
   mgmt; each with a deploy level (DEPLOY_ARGS: `scipian-deployer` in `shop`; prod behind a
   promotion gate, so it issues deploy credentials only inside a promotion, or with break-glass);
3. applies the RBAC grants of tests/stack/grants.py: reads oidc:team-a → dev,
   oidc:team-b → prod, oidc:platform-admins → every environment; deploy oidc:team-a → dev,
   oidc:platform-admins → every environment; approve and break-glass
   oidc:release-managers → prod;
   read promotions: platform-admins, release-managers, team-a, team-b; mallory → nothing;
4. starts `python -m scipian_backend serve` as production runs it: STACK_BACKEND_REPLICAS
   (default 2) processes "backend-0", "backend-1", ... on free loopback ports, each with its
   own log (`backend-0.log`) and every line also in the merged `backend.log`
   (tests/stack/logtee.py), behind HAProxy (process "balancer", tests/stack/balancer.py),
   whose URL is SCIPIAN_BACKEND_URL; STACK_BACKEND_<i>_URL is replica i itself. With
   STACK_BACKEND_REPLICAS=1, one process "backend" (log `backend.log`) and no balancer.
   Each runs with `--helm` = the stack's Helm 4 and a scratch dir of its own (every backend
   here: helm_args), and is waited for on /readyz. The stack's backends run with `--metrics-detail`
   (environment ids in /metrics, which the metric tests read), and so does a test-owned
   one (`spawn_backend`) unless its test passes `serve_flags=()`.

`spawn_backend(...)` starts an extra, test-owned backend process against the same mgmt
cluster (two replicas, special settings); its log goes to the stack's log dir so that the
secret-leak grep sees it too.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import balancer, clusters, envfile, grants, procs
from tests.stack.idp_daemon import UI_CLIENT_ID
from tests.stack.paths import ROOT, stack_dir

ENVIRONMENTS = {"dev": "Development", "staging": "Staging", "prod": "Production"}
# Each environment's deploy level (spec.deploy, docs/backend.md): `scipian-deployer` (edit
# without the rights to mint longer-lived tokens, change.md §3) in `shop`; prod only through
# a promotion from staging with one approval (or break-glass). The role is given explicitly,
# so a stack registered with `edit` before moves off it on the next `up`.
DEPLOY_NAMESPACE = "shop"
DEPLOY_ROLE = "scipian-deployer"
DEPLOY_ARGS: dict[str, tuple[str, ...]] = {
    "dev": (f"--deploy-cluster-role={DEPLOY_ROLE}", f"--deploy-namespace={DEPLOY_NAMESPACE}"),
    "staging": (f"--deploy-cluster-role={DEPLOY_ROLE}", f"--deploy-namespace={DEPLOY_NAMESPACE}"),
    "prod": (
        f"--deploy-cluster-role={DEPLOY_ROLE}",
        f"--deploy-namespace={DEPLOY_NAMESPACE}",
        "--require-promotion-from=staging",
        "--approvals=1",
    ),
}
# Flags of the stack's backends (spawn_backend's too, by default): environment ids in /metrics.
STACK_SERVE_FLAGS = ("--metrics-detail",)
BACKEND_SA = "scipian-backend"
BACKEND_NS = "scipian-system"


def backend_dir() -> Path:
    return stack_dir() / "backend"


def mgmt_kubeconfig() -> Path:
    """The backend's own (least-privilege) kubeconfig for the management cluster."""
    return backend_dir() / "mgmt.kubeconfig"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The backend's admin CLI as the mgmt cluster's admin."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scipian_backend",
            f"--mgmt-kubeconfig={clusters.admin_kubeconfig('mgmt')}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=180,
    )


def prepare() -> None:
    """Everything but the server: identity, environments, grants (idempotent)."""
    backend_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    _backend_identity()
    # One admin CLI process per environment, side by side: each mostly waits for its target's
    # broker token, and what they share on mgmt (the brokers' namespace) is a server-side
    # apply, which the apiserver serializes.
    with ThreadPoolExecutor(len(ENVIRONMENTS)) as pool:
        outs = list(pool.map(_register, ENVIRONMENTS.items()))
    failed = [f"register {name} failed: {err}" for name, err in outs if err is not None]
    if failed:
        raise RuntimeError("; ".join(failed))
    clusters.kubectl_run("mgmt", "apply", "-f", "-", input=json.dumps(grants.manifest()))


def _register(env: tuple[str, str]) -> tuple[str, str | None]:
    name, description = env
    out = admin_cli(
        "register",
        f"--name={name}",
        f"--kubeconfig={clusters.admin_kubeconfig(name)}",
        f"--description={description}",
        *DEPLOY_ARGS.get(name, ()),
    )
    return name, (out.stderr.strip() if out.returncode != 0 else None)


def _backend_identity() -> None:
    manifests = ROOT / "backend" / "scipian_backend" / "manifests"
    clusters.kubectl_run("mgmt", "apply", "-f", str(manifests / "crd.yaml"))
    clusters.kubectl_run("mgmt", "apply", "-f", str(manifests / "promotion-crd.yaml"))
    clusters.kubectl_run("mgmt", "apply", "-f", str(manifests / "accessrequest-crd.yaml"))
    clusters.kubectl_run("mgmt", "apply", "-f", str(manifests / "rbac.yaml"))
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{BACKEND_SA}-token",
            "namespace": BACKEND_NS,
            "annotations": {"kubernetes.io/service-account.name": BACKEND_SA},
        },
        "type": "kubernetes.io/service-account-token",
    }
    clusters.kubectl_run("mgmt", "apply", "-f", "-", input=json.dumps(token_secret))
    deadline = time.monotonic() + 60
    token = ""
    while not token:
        out = clusters.kubectl_run(
            "mgmt",
            "get",
            "secret",
            "-n",
            BACKEND_NS,
            f"{BACKEND_SA}-token",
            "-o",
            "jsonpath={.data.token}",
        )
        token = base64.b64decode(out.stdout).decode() if out.stdout else ""
        if not token and time.monotonic() > deadline:
            raise TimeoutError("mgmt: the backend's ServiceAccount token was not filled in")
        time.sleep(0.1 if not token else 0)
    out = clusters.kubectl_run("mgmt", "config", "view", "--raw", "-o", "json")
    admin = json.loads(out.stdout)
    cluster = admin["clusters"][0]["cluster"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mgmt", "cluster": cluster}],
        "users": [{"name": BACKEND_SA, "user": {"token": token}}],
        "contexts": [{"name": "mgmt", "context": {"cluster": "mgmt", "user": BACKEND_SA}}],
        "current-context": "mgmt",
    }
    path = mgmt_kubeconfig()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def ui_secret_file() -> Path:
    """The dashboard client's secret (0600), shared by the provider and every backend."""
    return backend_dir() / "ui-client-secret"


def write_ui_secret(secret: str) -> None:
    backend_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
    path = ui_secret_file()
    path.touch(mode=0o600)
    path.write_text(secret)


def ui_callback(port: int) -> str:
    return f"http://127.0.0.1:{port}/ui/callback"


def ui_args(port: int) -> tuple[str, ...]:
    """The dashboard's flags for a backend on `port` (none when the stack has no secret)."""
    if not ui_secret_file().exists():
        return ()
    return (
        f"--ui-client-id={UI_CLIENT_ID}",
        f"--ui-client-secret-file={ui_secret_file()}",
        f"--public-url=http://127.0.0.1:{port}",
    )


def serve_argv(
    issuer: str,
    client_id: str,
    port: int,
    *extra: str,
    ui: bool = True,
    public_port: int = 0,
    mgmt: Path | None = None,
) -> list[str]:
    """`public_port`: where the dashboard is reached (the balancer's), when not `port`;
    `mgmt`: another management cluster's kubeconfig than the stack's (a fleet bench's)."""
    return [
        sys.executable,
        "-m",
        "scipian_backend",
        f"--mgmt-kubeconfig={mgmt or mgmt_kubeconfig()}",
        "serve",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--issuer={issuer}",
        f"--client-id={client_id}",
        "--log-level=warning",
        *(ui_args(public_port or port) if ui else ()),
        *helm_args(port),
        *RAISED_LIMITS,
        # No balancer in front (a test's own backend, Dex's): SIGTERM stops it at once.
        # The stack's replicas give the balancer's figure (REPLICA_FLAGS).
        "--shutdown-unready-seconds=0",
        *extra,  # after RAISED_LIMITS: a limit's own test gives its small numbers here
    ]


# The stack's Helm 4 (tests/tools helm4()), set by stack.up before its backend starts; other
# processes (tests, spawn_backend) find it in .stack/env as STACK_HELM.
HELM: str | None = None


def helm_args(port: int) -> tuple[str, ...]:
    """`--helm` and a scratch dir of its own (under the stack dir: strays are found) for a
    backend on `port`; none when the stack has no helm yet."""
    helm = HELM or envfile.read().get("STACK_HELM")
    if not helm:
        return ()
    return (f"--helm={helm}", f"--helm-scratch-dir={backend_dir() / 'helm-scratch' / str(port)}")


# change.md §11: the stack's and the bench's backends raise the per-user buckets by flag
# (ten times the defaults): the suite and the bench log the same few people in many times
# a minute. Each limit's own test passes small numbers (tests/e2e/test_ratelimit*.py).
RAISED_LIMITS = (
    "--rate-limit=6000/60s",
    "--rate-limit-burst=1000",
    "--read-rate-limit=12000/60s",
    "--read-rate-limit-burst=2000",
    "--write-rate-limit=1200/60s",
    "--write-rate-limit-burst=300",
    # The promotion caps (5 unfinished, 10 an hour per user): the suite's few people start
    # hundreds; test_promotion_concurrency.py gives its own small numbers.
    "--promotion-active-per-user=100000",
    "--promotion-creations-per-hour=100000",
    # Chart uploads (50 an hour, 20 unreferenced per user): the promotion tests upload as
    # the same few people; tests/e2e/artifacts gives its own small numbers.
    "--chart-uploads-per-hour=100000",
    "--chart-unreferenced-per-user=100000",
    # Access requests (3 pending per user and environment, 10 per user, 20 an hour): the
    # suite's bob asks many times; tests/e2e/accessrequests/test_request_caps.py gives its own.
    "--request-max-pending-per-env=100000",
    "--request-max-pending-per-user=100000",
    "--request-creations-per-hour=100000",
    # The dashboard (docs/decisions/dashboard-state.md): every sign-in of the suite comes
    # from 127.0.0.1, and the same few people sign in hundreds of times an hour (a cap of 20
    # would end a running test's session); test_dashboard_replicas.py gives small numbers.
    "--ui-login-rate-limit=12000/60s",
    "--ui-login-rate-limit-burst=2000",
    "--ui-sessions-per-user=100000",
)


REPLICAS_VAR = "STACK_BACKEND_REPLICAS"
MAX_REPLICAS = 4
# A stack replica fails /readyz this long on SIGTERM: the balancer's checks see it first.
REPLICA_FLAGS = (f"--shutdown-unready-seconds={balancer.UNREADY_SECONDS:g}",)
MERGED_LOG = "backend.log"


def replica_count() -> int:
    """STACK_BACKEND_REPLICAS: 2 by default; 1 runs the backend alone, without a balancer."""
    raw = os.environ.get(REPLICAS_VAR, "2").strip() or "2"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
        raise RuntimeError(f"{REPLICAS_VAR} must be 1..{MAX_REPLICAS}, not {raw!r}")
    return int(raw)


def replica_url_var(i: int) -> str:
    return f"STACK_BACKEND_{i}_URL"


def process_urls(env: dict[str, str]) -> list[str]:
    """Every backend process of the stack, each asked directly (not through the balancer):
    the replicas, and Dex's backend once started. For counts that are per process."""
    count = int(env.get(REPLICAS_VAR) or 1)
    urls = [env.get(replica_url_var(i)) or "" for i in range(count)]
    if not urls[0]:  # a stack started before replicas: its one backend
        urls = [env.get("STACK_OIDC_PROVIDER_BACKEND_URL") or env["SCIPIAN_BACKEND_URL"]]
    dex = env.get("STACK_DEX_BACKEND_URL")
    return [u for u in urls if u] + ([dex] if dex else [])


def start(
    issuer: str, client_id: str, timeout: float = 60.0, port: int = 0, helm: str | None = None
) -> dict[str, str]:
    """Prepares mgmt and the targets, starts the stack's backend replicas and their balancer
    (on `port`, the one the dashboard's redirect URI was registered with; replicas run
    `helm`); returns SCIPIAN_BACKEND_URL, STACK_BACKEND_REPLICAS and each replica's URL."""
    global HELM
    HELM = helm or HELM
    prepare()
    port = port or free_port()
    count = replica_count()
    if count == 1:
        url = serve("backend", issuer, client_id, timeout, port=port, ui=True)
        return {"SCIPIAN_BACKEND_URL": url, REPLICAS_VAR: "1", replica_url_var(0): url}
    ports: list[int] = []
    while len(ports) < count:
        picked = free_port()
        if picked != port and picked not in ports:
            ports.append(picked)

    def replica(i: int) -> str:
        return serve(
            f"backend-{i}",
            issuer,
            client_id,
            timeout,
            port=ports[i],
            ui=True,
            public_port=port,
            merged_log=MERGED_LOG,
            extra=REPLICA_FLAGS,
        )

    with ThreadPoolExecutor(count) as pool:
        urls = list(pool.map(replica, range(count)))
    url = balancer.start(port, [(f"backend-{i}", f"127.0.0.1:{p}") for i, p in enumerate(ports)])
    return {
        "SCIPIAN_BACKEND_URL": url,
        REPLICAS_VAR: str(count),
        "STACK_BALANCER_SOCKET": str(balancer.admin_socket(balancer.stack_config_dir())),
        **{replica_url_var(i): u for i, u in enumerate(urls)},
    }


def serve(
    name: str,
    issuer: str,
    client_id: str,
    timeout: float = 60.0,
    *,
    port: int = 0,
    ui: bool = False,
    public_port: int = 0,
    merged_log: str = "",
    extra: Sequence[str] = (),
) -> str:
    """Starts a backend as stack process `name` trusting `issuer` (mgmt already prepared);
    returns its URL. A second one (Dex's) shares the environments and grants; only the
    stack's own backend serves the dashboard (its client is registered at oidc-provider).
    With `merged_log`, its output also goes, line by line, into that log."""
    port = port or free_port()
    argv = serve_argv(
        issuer, client_id, port, *STACK_SERVE_FLAGS, *extra, ui=ui, public_port=public_port
    )
    if merged_log:
        procs.spawn_teed(name, argv, merged_log, env=_child_env())
    else:
        procs.spawn(name, argv, env=_child_env())
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, timeout, lambda: name in procs.dead())
    return url


def _child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("SCIPIAN_MGMT_KUBECONFIG", None)
    return env


def wait_ready(url: str, timeout: float, died: object = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(died) and died():
            raise RuntimeError(f"backend exited; see {procs.log_dir()}")
        if reachable(url + "/readyz"):
            return
        time.sleep(0.1)
    raise TimeoutError(f"backend at {url} not ready after {timeout:.0f}s")


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # noqa: S310 - loopback URL
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass
class BackendProcess:
    """A test-owned backend process (not tracked by the stack)."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def spawn_backend(
    issuer: str,
    client_id: str,
    extra: Sequence[str] = (),
    name: str = "test",
    port: int = 0,
    serve_flags: Sequence[str] = STACK_SERVE_FLAGS,
    worker: bool = False,
    mgmt: Path | None = None,
) -> BackendProcess:
    """A test-owned backend; `port` 0 picks a free one (a restart may ask for the old one);
    `serve_flags=()` leaves out the stack's own flags (a production-like /metrics);
    `mgmt`: the kubeconfig of a management cluster of the caller's own (bench/fleet_world.py),
    which then runs without the stack's dashboard (its client is registered for the stack).

    Without `worker=True` it runs no worker room: it would otherwise claim the shared
    stack's promotions and, stopped with its test, leave them to wait out its Leases."""
    port = port or free_port()
    if not worker and "--no-worker" not in extra:
        extra = (*extra, "--no-worker")
    log_path = procs.log_dir() / f"backend-{name}-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            serve_argv(issuer, client_id, port, *serve_flags, *extra, ui=mgmt is None, mgmt=mgmt),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, 60, lambda: process.poll() is not None)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return BackendProcess(url, log_path, process)


class StaticIssuer:
    """A minimal OIDC issuer for tests that need identities the stack's provider lacks.

    Serves only discovery and a JWKS with one RSA key held by the test, so a test can sign
    id_tokens for any number of distinct users (or with exactly one claim wrong) and point a
    backend of its own at it. Everything else (tokens of real people) comes from the real
    provider; this never stands in for it in the stack.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "static-" + os.urandom(4).hex()
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        owner = self
        self.jwks_fetches = 0
        # A test clears jwks_open to hold JWKS answers (a backend's fetch then stays in
        # flight until it sets it again); jwks_asked is set by every JWKS request.
        self.jwks_open = threading.Event()
        self.jwks_open.set()
        self.jwks_asked = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                docs = {
                    "/.well-known/openid-configuration": {
                        "issuer": owner.issuer,
                        "jwks_uri": owner.issuer + "/jwks",
                    },
                    "/jwks": {"keys": [jwk]},
                }
                doc = docs.get(self.path)
                if self.path == "/jwks":
                    owner.jwks_fetches += 1
                    owner.jwks_asked.set()
                    owner.jwks_open.wait(60)
                body = json.dumps(doc or {"error": "not_found"}).encode()
                self.send_response(200 if doc else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def claims(self, email: str, groups: object, client_id: str) -> dict[str, object]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": client_id,
            "sub": "sub-" + email,
            "email": email,
            "email_verified": True,
            "groups": groups,
            "iat": now,
            "exp": now + 600,
        }

    def sign(self, claims: dict[str, object], kid: str | None = None) -> str:
        import jwt

        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

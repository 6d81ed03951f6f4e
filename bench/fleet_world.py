"""A fleet of its own for the `fleet_*` entries of `make bench`: a management apiserver and
a target apiserver started for the entry (the harness's `clusterd apiserver`), a test issuer
that signs id_tokens for any number of users, and a backend of the entry's own on that mgmt.

`World.open(name)` is a context manager; on the way out (also on an exception or Ctrl-C)
it stops the backend, the issuer and the apiservers (each by the process group it started)
and removes the directory: the shared stack never sees any of it.

Set-up, as the stack does it but on these clusters:
- the base environment `fleet-00000` is registered by the admin CLI (`python -m
  scipian_backend register`: the CRDs on mgmt, the broker on the target, its Secret on mgmt);
- its aliases (`fleet-NNNNN`, the same target) are copies of its Environment and broker
  Secret made directly with the mgmt admin client in parallel batches: 10,000 admin CLI
  calls would take hours, and a broker Secret serves only the environment named in its
  label (environments/store.py), so each alias gets a Secret of its own;
- the backend's own least-privilege identity on mgmt (manifests/rbac.yaml) with a token
  from a TokenRequest (mgmt runs no controller-manager: nothing there needs one);
- the target runs a controller-manager: the broker's token Secret is filled by it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.stack import harness
from tests.stack.backend_daemon import (
    BACKEND_NS,
    BACKEND_SA,
    BackendProcess,
    StaticIssuer,
    spawn_backend,
)
from tests.stack.paths import ROOT, stack_dir

GROUP, VERSION, PLURAL = "scipian.io", "v1alpha1", "environments"
BROKER_NS = "scipian-system"  # on mgmt: the broker Secrets (the CLI's --namespace default)
SESSIONS_NS = "scipian-sessions"  # on the target
ENV_LABEL = "scipian.io/environment"
MANAGED = "scipian.io/managed=true"
CLIENT_ID = "kubectl-scipian"
USER_PREFIX = "oidc:"
BASE = "fleet-00000"
BATCH = 16  # parallel creates: the apiserver, not this client, is what the bench loads
TOKEN_SECONDS = 6 * 3600  # the backend's mgmt token: longer than any entry


def env_id(i: int) -> str:
    return f"fleet-{i:05d}"


def email(name: str) -> str:
    return f"{name}@fleet.example.test"


def load_average() -> float:
    """The 1-minute load average, recorded beside each figure: the machine is shared."""
    return round(os.getloadavg()[0], 2)


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": out.get("VmRSS", 0.0), "peak_rss_mb": out.get("VmHWM", 0.0)}


@dataclass
class World:
    name: str
    root: Path
    harness: Path
    issuer: StaticIssuer
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    backend: BackendProcess | None = None
    environments: int = 0  # fleet-00000 .. fleet-{n-1}
    _tokens: dict[str, tuple[float, str]] = field(default_factory=dict)
    _admin: dict[str, client.ApiClient] = field(default_factory=dict)

    # --- the world's life ------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def open(cls, name: str) -> Iterator[World]:
        base = stack_dir() / "bench"
        base.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
        world = cls(name, root, harness.build(verbose=False), StaticIssuer())
        try:
            world._start()
            yield world
        finally:
            world.close()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
        self.issuer.stop()
        for proc in reversed(self.procs):
            _stop_group(proc)
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _start(self) -> None:
        t = time.monotonic()
        for cluster in ("mgmt", "target"):
            self._spawn(f"{cluster}-apiserver", "apiserver", f"--name={self.name}-{cluster}",
                        cluster=cluster)  # fmt: skip
        for cluster in ("mgmt", "target"):
            self._wait_kubeconfig(cluster)
        self._spawn("target-controller-manager", "controller-manager", cluster="target")
        self._register_base()
        self._backend_identity()
        self.environments = 1
        print(f"bench: {self.name}: clusters ready in {time.monotonic() - t:.0f}s", file=sys.stderr)

    def _spawn(self, log: str, *args: str, cluster: str) -> None:
        d = self.root / cluster
        d.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{log}.log", "ab") as out:
            self.procs.append(
                subprocess.Popen(
                    [str(self.harness), args[0], f"--dir={d}", *args[1:]],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # stopped by its own process group
                )
            )

    def _wait_kubeconfig(self, cluster: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.admin_kubeconfig(cluster).exists():
            dead = [repr(p.args) for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"bench: {self.name}: {dead[0]} exited; see {self.root}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"bench: {self.name}: {cluster} apiserver not ready")
            time.sleep(0.2)

    def admin_kubeconfig(self, cluster: str) -> Path:
        return self.root / cluster / "admin.kubeconfig"

    def admin(self, cluster: str) -> client.ApiClient:
        if cluster not in self._admin:
            from scipian_backend import kube

            self._admin[cluster] = kube.from_kubeconfig_file(str(self.admin_kubeconfig(cluster)))
        return self._admin[cluster]

    def cli(self, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
        """The backend's admin CLI on this mgmt (as its admin unless `kubeconfig`)."""
        mgmt = kubeconfig or self.admin_kubeconfig("mgmt")
        return subprocess.run(
            [sys.executable, "-m", "scipian_backend", f"--mgmt-kubeconfig={mgmt}", *args],
            capture_output=True, text=True, check=False, cwd=ROOT, timeout=3600,
        )  # fmt: skip

    def _register_base(self) -> None:
        deadline = time.monotonic() + 90
        while True:  # a just-ready apiserver may refuse for a moment (CRDs, RBAC bootstrap)
            out = self.cli(
                "register",
                f"--name={BASE}",
                f"--kubeconfig={self.admin_kubeconfig('target')}",
                "--description=fleet bench",
            )
            if out.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench: {self.name}: register failed: {out.stderr.strip()}")
            time.sleep(1)

    def _backend_identity(self) -> None:
        from scipian_backend.environments import apply

        mgmt = self.admin("mgmt")
        for doc in apply.manifest("rbac.yaml"):
            apply.apply(mgmt, doc)
        core = client.CoreV1Api(mgmt)
        tr = core.create_namespaced_service_account_token(
            BACKEND_SA, BACKEND_NS, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
        )
        with open(self.admin_kubeconfig("mgmt")) as f:
            import yaml

            admin = yaml.safe_load(f)
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "mgmt", "cluster": admin["clusters"][0]["cluster"]}],
            "users": [{"name": BACKEND_SA, "user": {"token": tr.status.token}}],
            "contexts": [{"name": "mgmt", "context": {"cluster": "mgmt", "user": BACKEND_SA}}],
            "current-context": "mgmt",
        }
        path = self.backend_kubeconfig
        path.touch(mode=0o600)
        path.write_text(json.dumps(doc))

    @property
    def backend_kubeconfig(self) -> Path:
        """The backend's own least-privilege identity on this mgmt."""
        return self.root / "backend-mgmt.kubeconfig"

    def start_backend(self, *extra: str) -> BackendProcess:
        """The bench's backend on this mgmt (raised limits: serve_argv), restarted if running."""
        if self.backend is not None:
            self.backend.stop()
        self.backend = spawn_backend(
            self.issuer.issuer, CLIENT_ID, extra, name=self.name, serve_flags=(),
            mgmt=self.backend_kubeconfig,
        )  # fmt: skip
        return self.backend

    # --- environments ----------------------------------------------------------------------

    def grow(self, n: int) -> float:
        """Aliases of the base environment up to `n` environments in all; returns seconds."""
        t = time.monotonic()
        if n <= self.environments:
            return 0.0
        mgmt = self.admin("mgmt")
        custom, core = client.CustomObjectsApi(mgmt), client.CoreV1Api(mgmt)
        base = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, BASE)
        ref = base["spec"]["credentialsSecretRef"]
        secret = core.read_namespaced_secret(ref["name"], ref["namespace"])
        data = dict(secret.data)
        raw = RawClient(self.admin_kubeconfig("mgmt"), self.root / "mgmt-admin-tls")
        secrets_path = f"/api/v1/namespaces/{ref['namespace']}/secrets"
        envs_path = f"/apis/{GROUP}/{VERSION}/{PLURAL}"

        def one(i: int) -> None:
            name = env_id(i)
            secret_name = f"{name}-kubeconfig"
            body = {
                "metadata": {"name": secret_name, "namespace": ref["namespace"],
                             "labels": {ENV_LABEL: name}},
                "type": "Opaque",
                "data": data,
            }  # fmt: skip
            spec = json.loads(json.dumps(base["spec"]))
            spec["credentialsSecretRef"]["name"] = secret_name
            spec["description"] = f"fleet bench alias {i}"
            env = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Environment",
                "metadata": {"name": name},
                "spec": spec,
            }
            raw.create(secrets_path, body)
            raw.create(envs_path, env)

        with ThreadPoolExecutor(BATCH) as pool:
            list(pool.map(one, range(self.environments, n)))
        self.environments = n
        return round(time.monotonic() - t, 1)

    def apply_admin(self, cluster: str, docs: Sequence[dict[str, Any]]) -> None:
        from scipian_backend.environments import apply

        for doc in docs:
            apply.apply(self.admin(cluster), doc)

    def grant_read(self, name: str, env_ids: Sequence[str], users: Sequence[str] = (),
                   groups: Sequence[str] = ()) -> None:  # fmt: skip
        """A ClusterRole allowing `get environments/kubeconfig` on `env_ids` by name, bound
        to `users` and `groups` (emails and group names, prefixed as the backend maps them)."""
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"apiGroups": [GROUP], "resources": ["environments/kubeconfig"],
                       "verbs": ["get"], "resourceNames": sorted(env_ids)}],
        }  # fmt: skip
        subjects = [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER_PREFIX + u}
            for u in users
        ] + [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": USER_PREFIX + g}
            for g in groups
        ]
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": name},
            "subjects": subjects,
        }  # fmt: skip
        self.apply_admin("mgmt", [role, binding])

    # --- users -----------------------------------------------------------------------------

    def id_token(self, user: str, groups: Sequence[str] = ()) -> str:
        """An id_token for `user` (an email), re-signed when older than 5 minutes."""
        key = f"{user}\0{','.join(groups)}"
        now = time.monotonic()
        cached = self._tokens.get(key)
        if cached is None or now - cached[0] > 300:
            claims = self.issuer.claims(user, list(groups), CLIENT_ID)
            claims["auth_time"] = int(time.time())
            cached = (now, self.issuer.sign(claims))
            self._tokens[key] = cached
        return cached[1]

    # --- what the backend asks of each apiserver (their audit logs) ------------------------

    def audit_mark(self) -> dict[str, int]:
        """Where each cluster's audit log ends now (the harness logs every request but
        watches and Leases at Metadata level)."""
        return {c: _size(self.root / c / "audit.log") for c in ("mgmt", "target")}

    def audit_since(self, mark: dict[str, int], settle_s: float = 1.0) -> dict[str, int]:
        """Requests logged since `mark`, by "cluster verb resource[/subresource]", leaving out
        the clusters' admin (this bench) and the clusters' own components."""
        time.sleep(settle_s)  # the log backend writes behind the answer
        counts: dict[str, int] = {}
        for cluster, start in mark.items():
            with open(self.root / cluster / "audit.log", "rb") as f:
                f.seek(start)
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    user = (ev.get("user") or {}).get("username", "")
                    if ev.get("stage") != "ResponseComplete" or not user.startswith(
                        "system:serviceaccount:scipian-system:"
                    ):
                        continue  # the backend on mgmt, the broker on the target
                    ref = ev.get("objectRef") or {}
                    what = ref.get("resource", "")
                    if ref.get("subresource"):
                        what += "/" + ref["subresource"]
                    key = f"{cluster} {ev.get('verb')} {what}"
                    counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def stored_bytes(self) -> dict[str, int]:
        """JSON size of one object of each kind an issuance stores (the apiserver keeps core
        kinds as protobuf in etcd, somewhat smaller: an upper bound)."""
        sizes: dict[str, int] = {}
        kinds = {
            "target session Secret": ("target", f"/api/v1/namespaces/{SESSIONS_NS}/secrets"),
            "target ServiceAccount": (
                "target", f"/api/v1/namespaces/{SESSIONS_NS}/serviceaccounts"),
            "target ClusterRoleBinding": (
                "target", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
            "mgmt Event": ("mgmt", "/api/v1/events"),
            "mgmt Environment": ("mgmt", f"/apis/{GROUP}/{VERSION}/{PLURAL}"),
            "mgmt broker Secret": ("mgmt", f"/api/v1/namespaces/{BROKER_NS}/secrets"),
        }  # fmt: skip
        for name, (cluster, path) in kinds.items():
            api = self.admin(cluster)
            selector = "" if cluster == "mgmt" else MANAGED
            query = [("limit", "1")] + ([("labelSelector", selector)] if selector else [])
            if name == "mgmt broker Secret":
                query.append(("labelSelector", ENV_LABEL))
            resp = api.call_api(
                path, "GET", query_params=query, auth_settings=["BearerToken"],
                _preload_content=False, _return_http_data_only=True,
            )  # fmt: skip
            items = json.loads(resp.data).get("items", [])
            if items:
                # managedFields included: the apiserver stores them too
                sizes[name] = len(json.dumps(items[0], separators=(",", ":")))
        return sizes

    # --- counts ----------------------------------------------------------------------------

    def target_counts(self) -> dict[str, int]:
        """Objects the backend made on the target: session Secrets, ServiceAccounts,
        ClusterRoleBindings and RoleBindings labelled managed."""
        api = self.admin("target")
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        return {
            "sessionSecrets": _count(core.list_namespaced_secret, SESSIONS_NS),
            "serviceAccounts": _count(core.list_namespaced_service_account, SESSIONS_NS),
            "clusterRoleBindings": _count(rbac.list_cluster_role_binding),
            "roleBindings": _count(rbac.list_role_binding_for_all_namespaces),
        }

    def mgmt_counts(self) -> dict[str, int]:
        """Objects on mgmt that grow with use: Events, Secrets, ConfigMaps, Leases,
        Environments, Promotions, AccessRequests (all, managed or not)."""
        api = self.admin("mgmt")
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        coord = client.CoordinationV1Api(api)
        counts = {
            "events": _count(core.list_event_for_all_namespaces, selector=""),
            "secrets": _count(core.list_secret_for_all_namespaces, selector=""),
            "configMaps": _count(core.list_config_map_for_all_namespaces, selector=""),
            "leases": _count(coord.list_lease_for_all_namespaces, selector=""),
        }
        for plural in ("environments", "promotions", "accessrequests"):
            doc = custom.list_cluster_custom_object(GROUP, VERSION, plural, limit=1)
            remaining = (doc.get("metadata") or {}).get("remainingItemCount") or 0
            counts[plural] = len(doc.get("items", [])) + int(remaining)
        return counts


class RawClient:
    """POSTs with the standard library on one kept-alive TLS connection per thread: the
    typed client spends about 10 ms of CPU per create here, this under 1 ms, and the bench
    means to load the apiserver, not itself. Client certificate and key go to private files
    under `tls_dir` (inside the world, removed with it)."""

    def __init__(self, kubeconfig: Path, tls_dir: Path) -> None:
        import ssl
        import threading
        from urllib.parse import urlsplit

        import yaml

        doc = yaml.safe_load(kubeconfig.read_text())
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        tls_dir.mkdir(mode=0o700, exist_ok=True)
        files = {}
        for key, source in (
            ("certificate-authority-data", cluster),
            ("client-certificate-data", user),
            ("client-key-data", user),
        ):
            path = tls_dir / key
            path.touch(mode=0o600)
            path.write_bytes(base64.b64decode(source[key]))
            files[key] = str(path)
        self._ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self._ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
        url = urlsplit(cluster["server"])
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 443
        self._local = threading.local()

    def _conn(self) -> Any:
        import http.client

        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self._host, self._port, context=self._ctx,
                                               timeout=60)  # fmt: skip
            self._local.conn = conn
        return conn

    def create(self, path: str, body: dict[str, Any], attempts: int = 5) -> None:
        """A create; 409 (a retried batch) is fine; 429/5xx or a broken connection back
        off briefly (bounded)."""
        import http.client

        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        status = 0
        for i in range(attempts):
            conn = self._conn()
            try:
                conn.request("POST", path, body=data, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                status = 0
            if status in (200, 201, 409):
                return
            if status not in (0, 429, 500, 503, 504):
                break
            time.sleep(0.2 * (i + 1))
        raise RuntimeError(f"bench: create {path} answered HTTP {status}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _count(lister: Callable[..., Any], *args: str, selector: str = MANAGED) -> int:
    """Items in a list, counted by pages of 500 (metadata only would be nicer; this keeps
    to the typed client)."""
    total, token = 0, None
    while True:
        kw: dict[str, Any] = {"limit": 500, "_preload_content": False}
        if selector:
            kw["label_selector"] = selector
        if token:
            kw["_continue"] = token
        resp = lister(*args, **kw)
        doc = json.loads(resp.data)
        total += len(doc.get("items", []))
        token = (doc.get("metadata") or {}).get("continue")
        if not token:
            return total


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()

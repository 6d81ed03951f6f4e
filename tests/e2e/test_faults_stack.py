"""Faults on the real stack: a backend killed mid-request, the OIDC provider down, a target
cluster down, an apiserver answering 429/5xx, a clock that disagrees, a token revoked while
`logs -f` streams. Each ends in a clear one-line error or a correct result, and leaves the
plugin's cache parseable with no temp files.

Whatever a test stops is its own: a provider (`start_idp`), backends (`spawn_backend`, or
`serve_argv` on a port the test chose), a private apiserver (the harness's `clusterd`), a
fault proxy. The shared stack's processes are never stopped or reconfigured.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.e2e.apiserver_proxy import ApiserverProxy
from tests.e2e.parity_runner import KLOG, ROOT, Parity, view_kubeconfig
from tests.helpers import cluster_status, pod_with_logs, wait_for
from tests.stack.backend_daemon import (
    BackendProcess,
    admin_cli,
    spawn_backend,
)
from tests.stack.idp_process import IdpProcess, start_idp
from tests.stack.login import plugin_env, plugin_login, run_plugin
from tests.stack.podlogs import append_lines, give_logs

pytestmark = pytest.mark.stack
RUN_TIMEOUT = 60.0  # hang guard for one plugin run


# -- helpers ----------------------------------------------------------------------------------


def make_env(stack: Stack, config_dir: Path, backend_url: str) -> dict[str, str]:
    env = plugin_env(
        stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(config_dir), SCIPIAN_BACKEND_URL=backend_url
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        env.pop(name, None)  # never a browser
    return env


def config_dir(env: dict[str, str]) -> Path:
    return Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])


def kubeconfig_files(env: dict[str, str]) -> list[Path]:
    return sorted(config_dir(env).glob("cache/*/kubeconfigs/*.json"))


def login_file(env: dict[str, str]) -> Path:
    [path] = config_dir(env).glob("cache/*/login.json")
    return path


def assert_cache_sound(env: dict[str, str]) -> None:
    """Every cache file parses; no temp file is left behind."""
    root = config_dir(env)
    assert [p for p in root.rglob("*") if ".tmp" in p.name] == []
    for path in root.glob("cache/*/**/*.json"):
        json.loads(path.read_text())


class Secret:
    """Holds a kubeconfig or token without showing it in assertion messages."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return "Secret(...)"


def cached_kubeconfig(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(json.loads(path.read_text())["kubeconfig"])
    return doc


def issuances(url: str, env_id: str = "dev") -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    prefix = f'scipian_issuances_total{{environment="{env_id}",level="read"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


@pytest.fixture
def idp(tmp_path: Path, stack: Stack) -> Iterator[IdpProcess]:
    provider = start_idp(tmp_path / "idp", stack.env["STACK_PASSWORD"])
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def backend(idp: IdpProcess) -> Iterator[BackendProcess]:
    process = spawn_backend(idp.issuer, idp.client_id, name="faults")
    try:
        yield process
    finally:
        process.stop()


def logged_in(stack: Stack, tmp_path: Path, url: str, user: str = "alice") -> dict[str, str]:
    env = make_env(stack, tmp_path / "config", url)
    done = plugin_login(user, stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    return env


# -- 1. the backend killed mid-request, then back on the same port ----------------------------


def test_backend_killed_mid_request(
    stack: Stack, idp: IdpProcess, backend: BackendProcess, tmp_path: Path
) -> None:
    first = logged_in(stack, tmp_path, backend.url)
    # Four caches with alice's login each (copies of the files): four fetches can be in
    # flight at once, where one cache would let one through and the rest wait on its lock.
    envs = [first]
    for i in range(3):
        shutil.copytree(config_dir(first), tmp_path / f"config{i}")
        envs.append(make_env(stack, tmp_path / f"config{i}", backend.url))
    argv = ["dev", "get", "pods", "-n", "default"]
    outcomes: list[subprocess.CompletedProcess[str]] = []
    killed = threading.Event()

    def worker(env: dict[str, str]) -> None:
        while not killed.is_set():
            for path in kubeconfig_files(env):
                path.unlink()  # every run fetches
            outcomes.append(run_plugin(argv, env, timeout=RUN_TIMEOUT))

    threads = [threading.Thread(target=worker, args=(env,)) for env in envs]
    for t in threads:
        t.start()
    try:
        wait_for("some fetches", lambda: sum(r.returncode == 0 for r in outcomes) >= 8, 60)
        backend.kill()
    finally:
        killed.set()
        for t in threads:
            t.join(RUN_TIMEOUT)
    unreachable = (
        f"error: cannot reach the Scipian backend at {backend.url} "
        "(connection refused or host unknown)\n"
    )
    for run in outcomes:
        if run.returncode != 0:
            assert (run.returncode, run.stdout, run.stderr) == (1, "", unreachable)
        else:
            assert run.stderr in ("", "No resources found in default namespace.\n")
    assert any(run.returncode != 0 for run in outcomes)
    for env in envs:
        assert_cache_sound(env)

    port = int(backend.url.rsplit(":", 1)[1])
    again = spawn_backend(idp.issuer, idp.client_id, name="faults", port=port)
    try:
        for env in envs:
            later = run_plugin(argv, env, timeout=RUN_TIMEOUT)
            assert later.returncode == 0, later.stderr
            [cached] = kubeconfig_files(env)
            assert json.loads(cached.read_text())["environment"] == "dev"
            assert_cache_sound(env)
    finally:
        again.stop()


# -- 2. the OIDC provider down -----------------------------------------------------------------


def test_provider_down(
    stack: Stack, idp: IdpProcess, backend: BackendProcess, tmp_path: Path
) -> None:
    env = logged_in(stack, tmp_path, backend.url)
    assert run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT).returncode == 0
    idp.stop()

    # A cached, fresh kubeconfig: files only, nobody asked.
    cached = run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT)
    assert (cached.returncode, cached.stderr) == (0, "")

    # No kubeconfig, a valid id_token: the backend checks it against the JWKS it fetched
    # (and cached) while the provider was up, so issuance needs no provider.
    for path in kubeconfig_files(env):
        path.unlink()
    fetched = run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT)
    assert (fetched.returncode, fetched.stderr) == (0, ""), fetched.stderr
    assert len(kubeconfig_files(env)) == 1

    # An expired id_token and no kubeconfig: the refresh needs the provider, which is down.
    for path in kubeconfig_files(env):
        path.unlink()
    record = json.loads(login_file(env).read_text())
    refresh_token = record["refreshToken"]
    record["issuedAt"], record["expiresAt"] = time.time() - 3600, time.time() - 1
    login_file(env).write_text(json.dumps(record))
    expired = run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT)
    assert (expired.returncode, expired.stdout) == (1, "")
    assert expired.stderr.count("\n") == 1, expired.stderr
    assert expired.stderr.startswith(f"error: cannot reach the OIDC provider at {idp.issuer}")
    # An unreachable provider is no refusal: the refresh token is kept for later.
    assert json.loads(login_file(env).read_text())["refreshToken"] == refresh_token
    assert_cache_sound(env)


# -- 3. a target cluster down ------------------------------------------------------------------


@pytest.fixture
def stopped_cluster(stack: Stack, tmp_path: Path) -> Path:
    """The admin kubeconfig of a private apiserver that was up and is now stopped."""
    d = tmp_path / "cluster"
    d.mkdir()
    with open(tmp_path / "clusterd.log", "ab") as log:
        process = subprocess.Popen(
            [stack.env["STACK_HARNESS"], "apiserver", f"--dir={d}", "--name=faults"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for("the private apiserver", lambda: (d / "admin.kubeconfig").exists(), 120)
        up = subprocess.run(
            [
                stack.kubectl_path,
                f"--kubeconfig={d / 'admin.kubeconfig'}",
                "get",
                "--raw",
                "/livez",
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        assert up.returncode == 0, up.stderr
    finally:
        process.terminate()
        process.wait(30)
    return d / "admin.kubeconfig"


def test_cluster_down_matches_kubectl(stack: Stack, stopped_cluster: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(stopped_cluster.read_text())
    as_json = tmp_path / "down.json"
    as_json.write_text(json.dumps(doc))
    parity = Parity(stack.kubectl_path, as_json, tmp_path / "cache")
    for args in (["get", "pods"], ["logs", "web-0"], ["describe", "ns", "default"]):
        want = parity.run_kubectl(*args)
        got = parity.run_plugin(*args)
        assert got == want
        assert want.rc == 1 and want.err.count("\n") == 1
        assert "was refused" in want.err


# -- 4. the apiserver answering 429 and 5xx ----------------------------------------------------


def self_signed(dest: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fault-proxy")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = dest / "proxy.crt", dest / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FaultProxy(ApiserverProxy):
    """Answers the first requests for paths starting with `faulty` from `faults` (status,
    headers); forwards everything else."""

    def __init__(self, upstream: str, ca_data: bytes, cert: tuple[Path, Path]) -> None:
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.faulty = "/api/v1/namespaces/default/pods"
        self.served: list[int] = []
        super().__init__(upstream, ca_data, cert)

    def intercept(self, request: BaseHTTPRequestHandler) -> bool:
        if not request.path.startswith(self.faulty):
            return False
        if not self.faults:
            self.served.append(200)
            return False
        code, headers = self.faults.pop(0)
        self.served.append(code)
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"injected fault {code}",
                "reason": "TooManyRequests" if code == 429 else "InternalError",
                "code": code,
            }
        ).encode()
        self.answer(request, code, body, headers)
        return True


@pytest.fixture
def proxied(stack: Stack, tmp_path: Path) -> Iterator[tuple[FaultProxy, Parity]]:
    viewer = view_kubeconfig(stack.kubeconfig("dev"), stack.kubectl_path, tmp_path / "view.json")
    doc = json.loads(viewer.read_text())
    cluster = doc["clusters"][0]["cluster"]
    cert = self_signed(tmp_path)
    proxy = FaultProxy(
        cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), cert
    )
    doc["clusters"][0]["cluster"] = {
        "server": proxy.url,
        "certificate-authority-data": base64.b64encode(cert[0].read_bytes()).decode(),
    }
    through = tmp_path / "proxied.json"
    through.write_text(json.dumps(doc))
    through.chmod(0o600)
    try:
        yield proxy, Parity(stack.kubectl_path, through, tmp_path / "cache")
    finally:
        proxy.stop()


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([(429, {"Retry-After": "1"})] * 2, id="429-retry-after"),
        pytest.param([(503, {"Retry-After": "1"})], id="503-retry-after"),
        pytest.param([(503, {})], id="503"),
        pytest.param([(500, {})], id="500"),
        pytest.param([(429, {})], id="429-no-retry-after"),
    ],
)
def test_apiserver_faults_match_kubectl(
    proxied: tuple[FaultProxy, Parity], faults: list[tuple[int, dict[str, str]]]
) -> None:
    proxy, parity = proxied
    results = []
    for run in (parity.run_kubectl, parity.run_plugin):
        proxy.faults, proxy.served = list(faults), []
        results.append((run("get", "pods", "-n", "default"), proxy.served))
    (want, want_served), (got, got_served) = results
    assert got == want
    assert got_served == want_served  # the same requests: retried alike, or not at all
    if want.rc:
        assert want.err.count("\n") == 1


# -- 5. a clock that disagrees with the cache record or with the cluster ----------------------


def test_clock_skew(stack: Stack, backend: BackendProcess, tmp_path: Path) -> None:
    env = logged_in(stack, tmp_path, backend.url)
    assert run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT).returncode == 0
    [path] = kubeconfig_files(env)
    first = Secret(json.loads(path.read_text())["kubeconfig"])

    # Expired by the plugin's clock, still valid at the cluster: refetched all the same.
    record = json.loads(path.read_text())
    record["fetchedAt"], record["expiresAt"] = time.time() - 1000, time.time() - 100
    path.write_text(json.dumps(record))
    assert cluster_status(yaml.safe_load(first.text), tmp_path) == 200
    got = run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT)
    assert (got.returncode, got.stderr) == (0, "")
    second = json.loads(path.read_text())
    assert second["kubeconfig"] != first.text and second["expiresAt"] > time.time()

    # Fresh by the plugin's clock, refused by the cluster (401): one refetch, then success.
    doc = yaml.safe_load(second["kubeconfig"])
    doc["users"][0]["user"]["token"] = "not-a-valid-token"
    second["kubeconfig"] = json.dumps(doc)
    path.write_text(json.dumps(second))
    got = run_plugin(["dev", "get", "ns"], env, timeout=RUN_TIMEOUT)
    assert (got.returncode, got.stderr) == (0, "")
    third = cached_kubeconfig(path)
    assert third["users"][0]["user"]["token"] != "not-a-valid-token"
    assert cluster_status(third, tmp_path) == 200
    assert_cache_sound(env)


# -- 6. the token revoked while `logs -f` streams ----------------------------------------------


def test_revoked_during_logs_follow(
    stack: Stack, backend: BackendProcess, idp: IdpProcess, tmp_path: Path
) -> None:
    env = logged_in(stack, tmp_path, backend.url)
    with pod_with_logs(stack, "t-faults", ["one", "two"]) as (ns, pod):
        assert run_plugin(["dev", "get", "pods", "-n", ns], env).returncode == 0
        [path] = kubeconfig_files(env)
        issued = cached_kubeconfig(path)
        kfile = tmp_path / "issued.kubeconfig"
        kfile.write_text(json.dumps(issued))
        kfile.chmod(0o600)
        logs = give_logs(stack.kubeconfig("dev"), ns, pod, {"web": ["one", "two"]})["web"]

        plugin = follow(
            [str(ROOT / ".venv/bin/kubectl-scipian"), "dev"], env, ns, pod, tmp_path / "plugin"
        )
        kubectl = follow(
            [stack.kubectl_path, f"--kubeconfig={kfile}"],
            dict(os.environ),
            ns,
            pod,
            tmp_path / "kubectl",
        )
        try:
            for f in (plugin, kubectl):
                wait_for("the first lines", lambda f=f: f.text().count("\n") >= 2, 30)  # type: ignore[misc]
            revoked = admin_cli("revoke", "--env=dev", "--user=oidc:alice@example.test")
            assert revoked.returncode == 0, revoked.stderr
            wait_for(
                "the revoked token to fail", lambda: cluster_status(issued, tmp_path) == 401, 60
            )
            append_lines(logs, ["three"])
            for f in (plugin, kubectl):
                wait_for("the new line", lambda f=f: "three" in f.text(), 30)  # type: ignore[misc]
            # The apiserver authenticated both streams when they started: both keep going.
            assert plugin.text() == kubectl.text() == "one\ntwo\nthree\n"
            assert plugin.proc.poll() is None and kubectl.proc.poll() is None
        finally:
            plugin.stop()
            kubectl.stop()
        assert plugin.err() == kubectl.err() == ""

        # A new request with the revoked token: kubectl says Unauthorized; the plugin refetches
        # once and succeeds.
        again_kubectl = subprocess.run(
            [stack.kubectl_path, f"--kubeconfig={kfile}", "logs", "-n", ns, pod],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        assert (again_kubectl.returncode, KLOG.sub("", again_kubectl.stderr)) == (
            1,
            "error: You must be logged in to the server (Unauthorized)\n",
        )
        before = issuances(backend.url)
        again = run_plugin(["dev", "logs", "-n", ns, pod], env, timeout=RUN_TIMEOUT)
        assert issuances(backend.url) - before == 1  # one refetch
        assert (again.returncode, again.stdout, again.stderr) == (0, "one\ntwo\nthree\n", "")
        renewed = cached_kubeconfig(path)
        assert renewed["users"][0]["user"]["token"] != issued["users"][0]["user"]["token"]
        assert_cache_sound(env)


class Follower:
    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.proc, self._out, self._err = proc, out, err

    def text(self) -> str:
        return self._out.read_text()

    def err(self) -> str:
        return KLOG.sub("", self._err.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def follow(prefix: list[str], env: dict[str, str], ns: str, pod: str, dest: Path) -> Follower:
    """`PREFIX logs -f -n NS POD` in the background, its output in files under dest."""
    out, err = dest.with_suffix(".out"), dest.with_suffix(".err")
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [*prefix, "logs", "-f", "-n", ns, pod],
            stdin=subprocess.DEVNULL,
            stdout=o,
            stderr=e,
            env=env,
        )
    return Follower(proc, out, err)

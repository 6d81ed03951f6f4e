"""The plugin against hostile input: env ids, flag combinations, a broken or hostile backend
(served by a tiny HTTP server on 127.0.0.1 in this module: that is its point; it never
stands in for the real backend in a positive test), and a cache that is corrupt,
truncated, read-only or full. Each ends with one line on stderr, a non-zero exit, no
traceback, and no cache file left behind that the next run would trip over."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.test_plugin_access import kubeconfig_files, login, make_env
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack
FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"


def one_line_failure(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    if out.returncode == 2 and lines[0].startswith("usage:"):
        lines = lines[-1:]  # a usage error: argparse's usage, then one error line
    assert len(lines) == 1, out.stderr
    assert out.stdout == ""
    return lines[0]


# --- hostile env ids and flags (no network needed) -------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["..", "get", "pods"],
        ["../prod", "get", "pods"],
        ["dev/../prod", "get", "pods"],
        ["dev%2Fprod", "get", "pods"],
        ["dév", "get", "pods"],
        ["a" * 300, "get", "pods"],
        ["dev\n", "get", "pods"],
        ["DEV", "get", "pods"],
        ["--env", "..", "get", "pods"],
        ["--env", "", "get", "pods"],
        ["-dev", "get", "pods"],
        ["..", "credential"],
        ["..", "kubeconfig"],
        ["logout", "../../etc"],
    ],
)
def test_hostile_env_ids(stack: Stack, tmp_path: Path, argv: list[str]) -> None:
    env = make_env(stack, tmp_path / "config")
    line = one_line_failure(run_plugin(argv, env))
    assert "Traceback" not in line
    assert not (tmp_path / "etc").exists()
    assert not list((tmp_path / "config").rglob("*..*"))


@pytest.mark.parametrize(
    "argv",
    [
        ["dev"],
        ["dev", "delete", "pods"],
        ["dev,", "get", "pods"],
        ["@", "get", "pods"],
        ["dev", "kubeconfig", "--merge", "--output", "/tmp/x"],
        ["dev,prod", "credential"],
        ["login", "--timeout", "nan-ish"],
        ["logout", "dev", "--all"],
        ["--backend", "ftp://x", "envs"],
        ["--backend", "http://example.com", "envs"],
        ["--certificate-authority", "/nonexistent", "--backend", "https://x", "envs"],
        ["--backend", "https://x\r\nHost: evil", "envs"],
    ],
)
def test_hostile_flag_combinations(stack: Stack, tmp_path: Path, argv: list[str]) -> None:
    env = make_env(stack, tmp_path / "config")
    out = run_plugin(argv, env, timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert out.stderr.strip()


# --- a broken or hostile backend ---------------------------------------------------------------


class Hostile:
    """Discovery points at the stack's real provider (so the login is real); the kubeconfig
    answer is whatever the test sets."""

    def __init__(self, issuer: str) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (500, {}, b"")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/scipian-configuration":
                    body = {"apiVersion": "v1", "issuer": issuer, "clientID": "kubectl-scipian"}
                    self._send(200, {}, json.dumps(body).encode())
                else:
                    self._send(404, {}, b'{"reason":"NotFound","message":"no"}')

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(*owner.answer)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hostile(stack: Stack) -> Iterator[Hostile]:
    h = Hostile(stack.env["STACK_IDP_ISSUER"])
    yield h
    h.stop()


@pytest.fixture(scope="module")
def hostile_env(
    stack: Stack, hostile: Hostile, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("h") / "c", hostile.url))


def kubeconfig_doc(*, as_yaml: bool = False, **change: Any) -> str:
    """JSON text, as the backend sends it (`as_yaml`: YAML, which the plugin refuses)."""
    cluster = {"server": "https://127.0.0.1:1", "certificate-authority-data": "LS0t"}
    user: dict[str, Any] = {"token": FAKE_JWT}
    cluster.update(change.get("cluster", {}))
    user.update(change.get("user", {}))
    doc = {
        "clusters": [{"name": "dev", "cluster": cluster}],
        "users": [{"name": "dev", "user": user}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
        "current-context": "dev",
    }
    return yaml.safe_dump(doc) if as_yaml else json.dumps(doc)


def ok(kubeconfig: object = None, **fields: object) -> tuple[int, dict[str, str], bytes]:
    body = {
        "environment": "dev",
        "user": "oidc:alice@example.test",
        "expirationTimestamp": "2099-01-01T00:00:00Z",
        "kubeconfig": kubeconfig if kubeconfig is not None else kubeconfig_doc(),
        **fields,
    }
    return 200, {}, json.dumps(body).encode()


ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "invalid-json": (200, {}, b"{not json"),
    "json-list": (200, {}, b"[1, 2]"),
    "json-null": (200, {}, b"null"),
    "empty-200": (200, {}, b""),
    "html-200": (200, {"Content-Type": "text/html"}, b"<html>hi</html>"),
    "missing-fields": (200, {}, b"{}"),
    "kubeconfig-int": ok(42),
    "kubeconfig-empty": ok(""),
    "expiry-int": ok(expirationTimestamp=12),
    "expiry-garbage": ok(expirationTimestamp="9999-99-99T99:99:99Z"),
    "environment-list": ok(environment=["dev"]),
    "other-environment": ok(environment="prod"),
    "not-yaml": ok(": : :\n\t- ["),
    "yaml-kubeconfig": ok(kubeconfig_doc(as_yaml=True)),  # otherwise acceptable: JSON only
    "escape-in-message": (
        400,
        {},
        json.dumps({"reason": "BadRequest", "message": "\u001b[2A\u001b]52;c;aGk=\u0007"}).encode(),
    ),
    "exec-user": ok(kubeconfig_doc(user={"exec": {"command": "/bin/sh", "args": ["-c", "id"]}})),
    "auth-provider": ok(kubeconfig_doc(user={"auth-provider": {"name": "gcp"}})),
    "client-cert-path": ok(kubeconfig_doc(user={"client-certificate": "/etc/passwd"})),
    "token-file": ok(kubeconfig_doc(user={"tokenFile": "/etc/shadow"})),
    "plain-http-server": ok(kubeconfig_doc(cluster={"server": "http://127.0.0.1:1"})),
    "ca-path": ok(kubeconfig_doc(cluster={"certificate-authority": "/etc/shadow"})),
    "insecure": ok(kubeconfig_doc(cluster={"insecure-skip-tls-verify": True})),
    "500-html": (500, {"Content-Type": "text/html"}, b"<h1>oops</h1>"),
    "502-empty": (502, {}, b""),
    "503-token-in-message": (
        503,
        {},
        json.dumps({"reason": "ServiceUnavailable", "message": "x"}).encode(),
    ),
    "404-not-json": (404, {"Content-Type": "text/plain"}, b"nope"),
    "400-wrong-types": (400, {}, b'{"reason": [1], "message": {"a": 1}}'),
    "418": (418, {}, b'{"reason": "Teapot", "message": "short and stout"}'),
    "huge-body": (200, {}, b'{"kubeconfig": "' + b"a" * (8 << 20) + b'"}'),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_malformed_or_hostile_backend_answer(
    hostile: Hostile, hostile_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    hostile.answer = ANSWERS[name]
    marker = tmp_path / "pwned"
    out = run_plugin(["dev", "get", "pods"], {**hostile_env, "PWNED": str(marker)})
    line = one_line_failure(out)
    assert line.startswith(("error: ", "Invalid ")), line
    assert FAKE_JWT not in out.stderr and "signature-secret" not in out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr  # printed escaped
    assert not kubeconfig_files(hostile_env), "a refused answer was cached"
    assert not marker.exists()


# --- the cache's disk ------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def copy_login(source: dict[str, str], target: Path) -> None:
    shutil.copytree(source["KUBECTL_SCIPIAN_CONFIG_DIR"], target, dirs_exist_ok=True)
    for p in target.rglob("kubeconfigs/*"):
        p.unlink()


@pytest.fixture(scope="module")
def alice(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("alice") / "config"))


def test_full_cache_disk_is_one_line_and_leaves_nothing_half_written(
    stack: Stack, alice: dict[str, str], tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "fs", "size=256k,mode=0700") as fs:
        config = fs / "config"
        copy_login(alice, config)
        env = {**alice, "KUBECTL_SCIPIAN_CONFIG_DIR": str(config)}
        filler = fs / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        line = one_line_failure(run_plugin(["dev", "get", "pods"], env))
        assert line.startswith("error: cannot write the cache in "), line
        assert "No space left on device" in line
        assert not list(config.rglob("*.tmp")), "a temp file was left behind"
        assert not kubeconfig_files(env)
        filler.unlink()
        again = run_plugin(["dev", "get", "pods"], env)  # space back: works, nothing stale
        assert again.returncode == 0, again.stderr


def test_read_only_cache_disk_is_one_line(
    stack: Stack, alice: dict[str, str], tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "fs", "size=1m,mode=0700") as fs:
        config = fs / "config"
        copy_login(alice, config)
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        env = {**alice, "KUBECTL_SCIPIAN_CONFIG_DIR": str(config)}
        line = one_line_failure(run_plugin(["dev", "get", "pods"], env))
        assert line.startswith("error: cannot write the cache in "), line
        assert "Read-only file system" in line


@pytest.mark.parametrize(
    "damage",
    ["truncate", "empty", "binary", "wrong-types", "list", "huge-number"],
)
def test_corrupt_or_truncated_cache_is_discarded_and_refetched(
    alice: dict[str, str], tmp_path: Path, damage: str
) -> None:
    config = tmp_path / "config"
    copy_login(alice, config)
    env = {**alice, "KUBECTL_SCIPIAN_CONFIG_DIR": str(config)}
    assert run_plugin(["dev", "get", "pods"], env).returncode == 0
    [path] = kubeconfig_files(env)
    text = path.read_text()
    record = json.loads(text)
    damaged = {
        "truncate": text[: len(text) // 2],
        "empty": "",
        "binary": "\x00\xff\xfe garbage",
        "wrong-types": json.dumps({**record, "expiresAt": "soon", "kubeconfig": 5}),
        "list": "[]",
        "huge-number": json.dumps({**record, "expiresAt": 1e400}),
    }[damage]
    path.write_text(damaged, errors="surrogateescape")
    out = run_plugin(["dev", "get", "pods"], env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    [again] = kubeconfig_files(env)
    assert json.loads(again.read_text())["kubeconfig"]  # refetched, whole

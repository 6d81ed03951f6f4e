"""What `ENV get` imports, against an allow-list: a read is measured beside kubectl (bench:
get_warm), and almost all of its time is imports, so every module it loads is listed here
with the reason it may. A change that brings in anything else fails this test: import it
lazily where it is needed, or add it below with the reason it is worth its cost.

The plugin runs in a fresh interpreter without `site` (`python -S`), so that the
environment's own start-up (an editable install's import hook, sitecustomize) neither hides
nor adds modules; it reads through its real transport, TLS included, from an HTTPS server
of the test's own, with a cached login and kubeconfig as a logged-in user has them. Two
runs: the first with no discovery cache (it fetches and writes one), the second warm.
No timings are asserted (`make bench` reports them); tests/e2e/test_perf_imports.py checks
the same list against the real stack.
"""

from __future__ import annotations

import base64
import datetime
import io
import ipaddress
import json
import ssl
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian.access.cache import BackendCache, CachedKubeconfig, Login
from tests.stack.paths import ROOT

BACKEND = "https://backend.invalid"
PURELIB = sysconfig.get_paths()["purelib"]

# The standard library a read may import (beyond what the interpreter starts with).
STDLIB_ALLOWED = {
    # the language's own plumbing: collections, functools, enum, typing and re (argparse,
    # NamedTuple value types, every module's patterns), and what they import
    "__future__": "",
    "_collections": "",
    "_collections_abc": "",
    "_functools": "",
    "_operator": "",
    "_sre": "",
    "_stat": "",
    "_typing": "",
    "collections": "",
    "collections.abc": "",
    "contextlib": "",
    "copyreg": "",
    "enum": "",
    "functools": "",
    "itertools": "",
    "keyword": "",
    "operator": "",
    "re": "",
    "re._casefix": "",
    "re._compiler": "",
    "re._constants": "",
    "re._parser": "",
    "reprlib": "",
    "stat": "",
    "types": "",
    "typing": "type hints evaluated at import: NamedTuple value types",
    "typing.io": "typing's own alias module",
    "typing.re": "typing's own alias module",
    "warnings": "",
    "gc": "__main__ sets the collector's thresholds",
    "importlib": "cli imports the chosen command's module by name",
    "importlib._bootstrap": "importlib's own",
    "importlib._bootstrap_external": "importlib's own",
    # files, paths, the command line
    "argparse": "the command line (ours and kubectl's flags)",
    "gettext": "argparse's messages",
    "locale": "gettext, when argparse formats a message",
    "_locale": "locale",
    "os": "",
    "os.path": "",
    "posixpath": "",
    "genericpath": "",
    "errno": "",
    "fcntl": "the cache's file locks (access/cache.py)",
    "pathlib": "the plugin's files (config dir, cache, discovery cache) are Paths",
    "fnmatch": "pathlib imports it",
    "ntpath": "pathlib imports it",
    "urllib": "",
    "urllib.parse": "URLs: the backend's, the cluster's server, the query",
    "ipaddress": "urllib.parse imports it (and config.py: an http:// backend is loopback)",
    "json": "the cache, the kubeconfig (cached as JSON, no YAML parser) and every answer",
    "json.decoder": "",
    "json.encoder": "",
    "json.scanner": "",
    "_json": "",
    "hashlib": "cache file names are sha256 digests of their keys",
    "_hashlib": "hashlib (OpenSSL, which ssl loads anyway)",
    "_blake2": "hashlib imports it",
    "base64": "the kubeconfig's certificate-authority-data (ssl imports it too)",
    "binascii": "base64",
    "struct": "base64",
    "_struct": "base64",
    # the connection: the kubernetes client's REST layer (read/loader.py) and what it loads
    "socket": "",
    "_socket": "",
    "select": "socket",
    "selectors": "socket",
    "math": "selectors",
    "array": "socket",
    "ssl": "TLS to the cluster",
    "_ssl": "",
    "http": "http.client: urllib3's connections",
    "http.client": "urllib3's connections",
    "encodings.idna": "urllib3 normalizes host names",
    "stringprep": "encodings.idna",
    "unicodedata": "encodings.idna",
    "mimetypes": "urllib3.fields",
    "zlib": "urllib3.response (content decoding)",
    "hmac": "urllib3.util.ssl_ (certificate fingerprints)",
    "_sha512": "random",
    "random": "urllib3.util.retry (backoff jitter)",
    "_random": "random",
    "_bisect": "random",
    "bisect": "random",
    "queue": "urllib3.connectionpool (the pool of connections)",
    "_queue": "queue",
    "heapq": "queue",
    "_heapq": "heapq",
    "threading": "urllib3's pools are thread-safe",
    "_weakrefset": "threading",
    "weakref": "urllib3",
    "atexit": "logging",
    "logging": "urllib3 logs through it",
    "traceback": "logging",
    "linecache": "traceback",
    "tokenize": "linecache",
    "token": "tokenize",
    "string": "logging",
    "_string": "string",
    "copy": "urllib3.util.retry",
    "datetime": "urllib3.util.ssl_ (certificate dates)",
    "_datetime": "datetime",
    "calendar": "email.utils",
    "quopri": "email",
    "textwrap": "urllib3",
    "importlib._abc": "importlib.util",
    # read/loader.py loads the REST layer without the kubernetes package's eager __init__
    "importlib.util": "read/loader.py",
}
# Whole packages of the REST layer (every module of theirs that a read loads).
PACKAGES_ALLOWED = {
    # the design card: reads go through the kubernetes client, whose REST layer is urllib3
    "urllib3": "the kubernetes client's REST layer",
    "email": "http.client parses response headers with it",
    "six": "kubernetes.client.rest imports it",
}
# The plugin's own modules on a read's path (commands, credentials from the cache, the
# read itself); a new one here is a new cost on every read.
PLUGIN_ALLOWED = {
    "kubectl_scipian",
    "kubectl_scipian.__main__",
    "kubectl_scipian.access",
    "kubectl_scipian.access.cache",
    "kubectl_scipian.access.credentials",
    "kubectl_scipian.backend",
    "kubectl_scipian.backend.issued",
    "kubectl_scipian.cli",
    "kubectl_scipian.commands",
    "kubectl_scipian.commands.read",
    "kubectl_scipian.config",
    "kubectl_scipian.context",
    "kubectl_scipian.errors",
    "kubectl_scipian.read",
    "kubectl_scipian.read.args",
    "kubectl_scipian.read.discovery",
    "kubectl_scipian.read.errors",
    "kubectl_scipian.read.flags",
    "kubectl_scipian.read.get",
    "kubectl_scipian.read.loader",
    "kubectl_scipian.read.printers",
    "kubectl_scipian.read.printers.table",
    "kubectl_scipian.read.printers.tabwriter",
    "kubectl_scipian.read.session",
    "kubectl_scipian.read.target",
    "kubectl_scipian.read.transport",
    "kubectl_scipian.read.warnings",
    "kubectl_scipian.support",
    "kubectl_scipian.support.files",
    "kubectl_scipian.support.lean",
    "kubectl_scipian.wiring",
}
ALLOWED = set(STDLIB_ALLOWED) | PLUGIN_ALLOWED


def outside(modules: set[str]) -> list[str]:
    """The modules neither listed nor part of an allowed package."""
    return sorted(m for m in modules - ALLOWED if m.split(".")[0] not in PACKAGES_ALLOWED)


# Runs the plugin as its executable does (kubectl_scipian.__main__), without `site`, and
# writes the modules it imported (beyond the interpreter's own at start) and its exit.
PROBE = """
import sys
started = set(sys.modules)
sys.path.insert(0, sys.argv[2])
sys.path.append(sys.argv[3])  # the installed dependencies (the kubernetes client's REST layer)
import kubectl_scipian.__main__
from kubectl_scipian.cli import run
rc = run(sys.argv[4:])
modules = sorted(set(sys.modules) - started)
sys.stdout.flush()
import json
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "modules": modules}, f)
"""


def discovery(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "items": list(items),
    }


CORE = discovery(
    {
        "metadata": {"name": ""},
        "versions": [
            {
                "version": "v1",
                "resources": [
                    {
                        "resource": "pods",
                        "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
                        "scope": "Namespaced",
                        "singularResource": "pod",
                        "shortNames": ["po"],
                        "verbs": ["get", "list", "watch"],
                    }
                ],
            }
        ],
    }
)
TABLE = {
    "kind": "Table",
    "apiVersion": "meta.k8s.io/v1",
    "metadata": {"resourceVersion": "1"},
    "columnDefinitions": [
        {"name": "Name", "type": "string", "format": "name", "priority": 0},
        {"name": "Status", "type": "string", "format": "", "priority": 0},
    ],
    "rows": [{"cells": ["probe-pod", "Running"], "object": {"metadata": {"name": "probe-pod"}}}],
}


ANSWERS = {"/api": CORE, "/apis": discovery(), "/api/v1/namespaces/default/pods": TABLE}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        doc = ANSWERS.get(self.path.split("?")[0])
        body = json.dumps(doc if doc is not None else {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def self_signed(dest: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-apiserver")])
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
    cert_path, key_path = dest / "server.crt", dest / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """(https URL, CA PEM) of a TLS server answering discovery and a pod list."""
    cert, key = self_signed(tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", cert.read_bytes()
    finally:
        httpd.shutdown()
        httpd.server_close()


def logged_in(config_dir: Path, server: str, ca: bytes) -> None:
    """The cache of a user logged in at BACKEND, with a fresh kubeconfig for `dev`."""
    now = time.time()
    cache = BackendCache(config_dir / "cache", BACKEND, warn=io.StringIO())
    login = Login(
        "https://idp.invalid", "kubectl", ["openid"], "id-token", None, now, now + 3600,
        "alice-sub", "alice@example.com", [],
    )  # fmt: skip
    cache.save_login(login)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "dev",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca).decode(),
                },
            }
        ],
        "users": [{"name": "dev", "user": {"token": "probe-token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
        "current-context": "dev",
    }
    item = CachedKubeconfig("dev", login.user, now + 3600, now, "alice", json.dumps(kubeconfig))
    cache.save_kubeconfig(item)


def read_modules(
    argv: list[str], env: dict[str, str], out: Path
) -> tuple[subprocess.CompletedProcess[str], int, set[str]]:
    """Runs the plugin with `argv` in PROBE: (the process, the command's exit status, the
    modules it imported)."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(out), str(ROOT), PURELIB, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    return done, int(doc["rc"]), set(doc["modules"])


def get_modules(config_dir: Path, tmp_path: Path) -> set[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECTL_SCIPIAN_CONFIG_DIR": str(config_dir),
        "SCIPIAN_BACKEND_URL": BACKEND,
    }
    done, rc, modules = read_modules(["dev", "get", "pods"], env, tmp_path / "modules.json")
    assert (rc, done.stderr) == (0, "")
    assert done.stdout.split() == ["NAME", "STATUS", "probe-pod", "Running"]
    return modules


def test_get_imports_only_the_allowed_modules(apiserver: tuple[str, bytes], tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    logged_in(config_dir, *apiserver)
    cold = get_modules(config_dir, tmp_path)  # fetches discovery and caches it
    assert list((config_dir / "cache").rglob("discovery/*/resources.json"))
    warm = get_modules(config_dir, tmp_path)

    assert outside(cold) == []
    assert outside(warm) == []
    assert "urllib3.connectionpool" in warm  # the read did go through the REST layer


def test_the_allow_list_has_no_stale_entries(apiserver: tuple[str, bytes], tmp_path: Path) -> None:
    """Every entry is still imported by some read: a module that left the path leaves the
    list, so the list stays what a read costs."""
    config_dir = tmp_path / "config"
    logged_in(config_dir, *apiserver)
    seen = get_modules(config_dir, tmp_path) | get_modules(config_dir, tmp_path)
    assert sorted(ALLOWED - seen) == []
    assert sorted(p for p in PACKAGES_ALLOWED if p not in seen) == []

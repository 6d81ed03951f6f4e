"""The helm reads' small HTTP client against a real local HTTPS server (the standard
library's, with a certificate made here): TLS verification, Content-Length and chunked
bodies, Retry-After, and refusals."""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubectl_scipian import errors
from kubectl_scipian.backend import light_get as transport

BODY = {"environment": "dev", "items": [{"name": "web.v2", "info": {"status": "deployed"}}]}


def certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, str]]] = []
    busy_once: ClassVar[list[bool]] = [True]

    def do_GET(self) -> None:
        Handler.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        raw = json.dumps(BODY).encode()
        if self.path.startswith("/busy") and Handler.busy_once[0]:
            Handler.busy_once[0] = False
            self._send(
                429, b'{"reason":"TooManyRequests","message":"slow down"}', {"Retry-After": "0"}
            )
        elif self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (raw[:7], raw[7:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/forbidden"):
            self._send(403, b'{"reason":"Forbidden","message":"no"}', {})
        else:
            self._send(200, raw, {"X-Request-Id": "from-server"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = certificate(tmp_path_factory.mktemp("tls"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://localhost:{httpd.server_address[1]}", cert
    httpd.shutdown()


@pytest.mark.parametrize("path", ["/plain", "/chunked"])
def test_a_verified_https_answer(server: tuple[str, Path], path: str) -> None:
    url, cert = server
    got = transport.get(url, str(cert), {}, path, {"max": "3"}, "the-token")
    assert got == BODY
    seen = Handler.seen[-1]
    assert seen["path"] == f"{path}?max=3"
    assert seen["authorization"] == "Bearer the-token"
    assert seen["host"] == url.removeprefix("https://")


def test_an_unknown_certificate_is_refused(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    other, _ = certificate(tmp_path)
    with pytest.raises(errors.BackendUnreachable, match="TLS verification failed"):
        transport.get(url, str(other), {}, "/plain", {}, "t")


def test_retry_after_then_the_answer(server: tuple[str, Path]) -> None:
    url, cert = server
    waited: list[float] = []
    assert transport.get(url, str(cert), {}, "/busy", {}, "t", sleep=waited.append) == BODY
    assert waited == [0.0]


def test_statuses_become_the_plugins_errors(server: tuple[str, Path]) -> None:
    url, cert = server
    with pytest.raises(errors.AuthError):
        transport.get(url, str(cert), {}, "/forbidden", {}, "t")


def test_nobody_listening() -> None:
    with pytest.raises(errors.BackendUnreachable, match="connection refused"):
        transport.get("http://127.0.0.1:1", True, {}, "/x", {}, "t")

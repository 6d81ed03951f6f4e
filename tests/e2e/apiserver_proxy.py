"""An HTTPS proxy on 127.0.0.1 in front of a real apiserver, for tests that must inject
what a real apiserver will not do on demand (a 429, a 5xx, an expired watch).

kubectl sends no bearer token over plain http, so the proxy speaks TLS with a certificate
the test made. A subclass's `intercept` answers the requests it wants to; every other
request is forwarded to the apiserver unchanged.
"""

from __future__ import annotations

import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ApiserverProxy:
    def __init__(self, upstream: str, ca_data: bytes, cert: tuple[Path, Path]) -> None:
        self.upstream = upstream
        context = ssl.create_default_context(cadata=ca_data.decode())
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if owner.intercept(self):
                    return
                forward = urllib.request.Request(  # noqa: S310 - https to the apiserver
                    owner.upstream + self.path,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(forward, context=context, timeout=30) as r:  # noqa: S310
                        status, headers_out, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, headers_out, data = e.code, e.headers, e.read()
                self.send_response(status)
                for name, value in headers_out.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(*cert)
        self._server.socket = server_context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def intercept(self, request: BaseHTTPRequestHandler) -> bool:
        """Answer `request` here and return True, or return False to forward it."""
        return False

    @staticmethod
    def answer(
        request: BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A JSON answer of the proxy's own."""
        request.send_response(code)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

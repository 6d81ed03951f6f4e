"""An HTTPS proxy in front of a real apiserver that expires every watch: lists and
everything else are forwarded; a watch request is answered as the apiserver answers a
watch whose resourceVersion has left its watch window: HTTP 200, one ERROR event with a
410 Expired Status, then the end of the stream (EXPIRED: those bytes, as the stack's
kube-apiserver 1.36 sent them for `?watch=1&resourceVersion=1` once its pod watch cache
had moved past 1).

Injected rather than provoked: a real 410 needs the list's resourceVersion to leave the
watch window in the instant between the list and the watch (or a cluster old enough that
resourceVersion 1 has left it), which no test can arrange deterministically.
"""

from __future__ import annotations

import re
import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

EXPIRED = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
    b'"status":"Failure","message":"too old resource version: 1 (1950)",'
    b'"reason":"Expired","code":410}}\n'
)


class ExpiringProxy:
    def __init__(self, upstream: str, ca_data: bytes, cert: tuple[Path, Path]) -> None:
        self.upstream = upstream
        self.watches = 0
        context = ssl.create_default_context(cadata=ca_data.decode())
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path
                if re.search(r"[?&]watch=(true|1)", path):
                    owner.watches += 1
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(EXPIRED)))
                    self.end_headers()
                    self.wfile.write(EXPIRED)
                    return
                forward = urllib.request.Request(  # noqa: S310 - https to the apiserver
                    owner.upstream + path,
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

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

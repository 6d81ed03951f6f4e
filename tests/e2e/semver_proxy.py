"""A plain-HTTP proxy on 127.0.0.1 in front of a real apiserver that gives `/version` a
semver `gitVersion`, for helm's `install`/`upgrade` against the stack.

The stack's apiservers are built with plain `go build` (no release ldflags), so they
report `gitVersion: v0.0.0-master+$Format:%H$`; helm compares that with a chart's
`kubeVersion` and refuses every chart that sets one. The proxy answers `/version` with the
apiserver's own answer, `gitVersion` set to `v<its major>.<its minor>.0`; every other
request (any method, with its body) goes to the apiserver unchanged, authenticated with
the kubeconfig's client certificate. Clients reach it with a kubeconfig of their own
(`kubeconfig()`), without credentials: it listens on loopback only, for one test.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive", "host"}


def semver_version(info: dict[str, Any]) -> dict[str, Any]:
    minor = re.sub(r"[^0-9]", "", str(info["minor"]))
    return {**info, "gitVersion": f"v{info['major']}.{minor}.0"}


class SemverProxy:
    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.upstream = cluster["server"].rstrip("/")
        context = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
        cert, key = workdir / "client.crt", workdir / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.touch(mode=0o600)
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(cert, key)
        self._kubeconfig = workdir / "semver-proxy.kubeconfig"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                request = urllib.request.Request(  # noqa: S310 - https to the apiserver
                    owner.upstream + self.path,
                    data=body,
                    method=self.command,
                    headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP},
                )
                try:
                    with urllib.request.urlopen(request, context=context, timeout=60) as r:  # noqa: S310
                        status, headers, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, headers, data = e.code, e.headers, e.read()
                if self.path.split("?")[0] == "/version" and status == 200:
                    data = json.dumps(semver_version(json.loads(data))).encode()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def kubeconfig(self) -> Path:
        self._kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "mgmt", "cluster": {"server": self.url}}],
                    "users": [{"name": "proxy", "user": {}}],
                    "contexts": [{"name": "mgmt", "context": {"cluster": "mgmt", "user": "proxy"}}],
                    "current-context": "mgmt",
                }
            )
        )
        return self._kubeconfig

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

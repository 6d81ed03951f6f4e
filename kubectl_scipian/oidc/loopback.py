"""The RFC 8252 loopback redirect: a one-shot HTTP listener on 127.0.0.1, any free port."""

from __future__ import annotations

import html
import http.server
import time
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

from kubectl_scipian.errors import LoginError

CALLBACK_PATH = "/callback"


class Callback(NamedTuple):
    code: str


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != CALLBACK_PATH:
            # Browsers also ask for /favicon.ico; that is not the callback.
            self._reply(404, "Not found.")
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            self.server.result = self.server.check(query)
        except LoginError as err:
            self.server.failure = err
            self._reply(400, f"Login failed: {err}")
            return
        self._reply(200, "Login complete. You can close this window and return to the terminal.")

    def _reply(self, status: int, text: str) -> None:
        body = (
            "<!DOCTYPE html><html><head><title>kubectl scipian</title></head>"
            f"<body><p>{html.escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The default logs the request line, which carries the authorization code.
        pass


class _Server(http.server.HTTPServer):
    def __init__(self, state: str, issuer: str) -> None:
        # Port 0: the kernel picks a free port, so parallel logins never collide.
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.issuer = issuer
        self.result: Callback | None = None
        self.failure: LoginError | None = None

    def check(self, query: dict[str, str]) -> Callback:
        if query.get("state") != self.state:
            raise LoginError("the login callback carried a different state (possible CSRF)")
        if "iss" in query and query["iss"] != self.issuer:
            raise LoginError("the login callback came from another issuer (RFC 9207)")
        if "error" in query:
            detail = query.get("error_description", "")
            raise LoginError(f"the provider refused the login: {query['error']} {detail}".strip())
        if not query.get("code"):
            raise LoginError("the login callback carried no code")
        return Callback(query["code"])


class LoopbackListener:
    """Serves until one callback arrived (then closes) or the deadline passed."""

    def __init__(self, state: str, issuer: str) -> None:
        self._server = _Server(state, issuer)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def wait(self, timeout: float) -> Callback:
        deadline = time.monotonic() + timeout
        try:
            while self._server.result is None and self._server.failure is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LoginError(f"login timed out after {timeout:.0f}s")
                self._server.timeout = min(remaining, 0.5)
                self._server.handle_request()
        finally:
            self.close()
        if self._server.failure is not None:
            raise self._server.failure
        assert self._server.result is not None
        return self._server.result

    def close(self) -> None:
        self._server.server_close()

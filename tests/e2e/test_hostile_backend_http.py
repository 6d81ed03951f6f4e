"""Hostile input to the backend's HTTP API, on a backend process of this module's own.

A schemathesis run generated from the backend's own `/openapi.json` (zero 5xx, zero
schema or status violations), then the inputs an attacker tries by hand: path traversal
and odd characters in environment ids, oversized bodies and headers, CR/LF and junk in
`X-Request-Id` and `Authorization`. Raw requests go over a socket so that nothing in the
client normalises them first.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from tests.conftest import Stack
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"
EXAMPLES = 75  # per operation and run (17 operations): the module stays around a minute


@pytest.fixture(scope="module")
def backend(stack: Stack) -> Iterator[BackendProcess]:
    b = spawn_backend(stack.env["STACK_IDP_ISSUER"], CLIENT_ID, name="hostile")
    yield b
    b.stop()


@pytest.fixture(scope="module")
def mallory(stack: Stack) -> str:
    """A real user without any grant: authenticated requests stop at authorization."""
    tokens = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, "mallory", stack.env["STACK_PASSWORD"]
    )
    return str(tokens["id_token"])


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("auth", ["none", "mallory"])
def test_schemathesis_finds_no_5xx_and_no_contract_violation(
    backend: BackendProcess, mallory: str, auth: str, mode: str
) -> None:
    """Positive: schema-valid requests get a documented answer. Negative: schema-invalid
    ones (bad ids, bodies, methods) are refused without a 5xx."""
    import schemathesis

    # The chart upload's body is an archive (application/gzip): sent as bytes.
    with contextlib.suppress(ValueError):
        schemathesis.serializer.alias("application/gzip", "application/octet-stream")
    from schemathesis.config import SchemathesisConfig

    # A schema-invalid body past a route's size limit is refused with 413 before it is
    # parsed: a refusal as good as a 400.
    rejected = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": rejected}}}
    )
    schema = schemathesis.openapi.from_url(f"{backend.url}/openapi.json", config=config)
    headers = {"Authorization": f"Bearer {mallory}"} if auth == "mallory" else {}
    session = requests.Session()
    session.trust_env = False
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {
        "/api/v1/environments/{env_id}/kubeconfig",
        "/api/v1/environments",
    }
    failures: list[str] = []
    from hypothesis.errors import Unsatisfiable

    for operation in operations:
        if mode == "positive" and (operation.method.upper(), operation.path) == UPLOAD:
            continue  # valid only when the body hashes to its path: test_chart_upload.py
        # Unsatisfiable: an operation without inputs has no schema-invalid form.
        with contextlib.suppress(AssertionError, Unsatisfiable):
            fuzz(operation, session, headers, failures, mode)()
    requests_made = failures.count("")
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures[:5])
    assert requests_made >= 50, requests_made  # the generator did run
    print(f"schemathesis: {requests_made} requests, no failure")


UPLOAD = ("PUT", "/api/v1/charts/{ref}")


def fuzz(
    operation: Any,
    session: requests.Session,
    headers: dict[str, str],
    failures: list[str],
    mode: str,
) -> Callable[[], None]:
    """A hypothesis test of one operation; its failures go to ``failures``."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    where = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(schemathesis.GenerationMode(mode)))
    def run(case: Any) -> None:
        failures.append("")  # one per request made; the empty entries are dropped below
        try:
            case.call_and_validate(session=session, headers=headers, timeout=30)
        except AssertionError as failure:  # collected: one report for every operation
            failures.append(f"{where}: {failure}")
            raise

    return run


def raw(backend: BackendProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request as bytes; (status, headers, body), or status 0 when the server
    closed the connection without an answer."""
    host, port = backend.url.removeprefix("http://").split(":")
    data = b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(request)
        except (ConnectionResetError, BrokenPipeError):
            return 0, {}, b""  # refused before we finished sending
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length and len(body) >= int(length.group(1)):
                    break
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def post(path: str, *, headers: str = "", body: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


ENV_IDS = [
    "..",
    "../..",
    "../prod",
    "dev/../prod",
    "%2e%2e",
    "%2e%2e%2fprod",
    "dev%2Fprod",
    "dev%2f..%2fprod",
    "dev%00",
    "dev%0A",  # `$` in a Python regex matches before a trailing newline
    "dev%0a%0a",
    "%00",
    "dev%0d%0aX-Injected:%201",
    "d%C3%A9v",  # dév
    "%E2%80%AEved",  # right-to-left override
    "%EF%BC%A4EV",  # fullwidth DEV
    "a" * 300,
    "-dev",
    "DEV",
    "dev.prod",
    "dev%20",
    "dev;rm%20-rf",
    "%25",
    "dev\\prod",
]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_odd_environment_ids_are_refused_cleanly(
    backend: BackendProcess, mallory: str, env_id: str
) -> None:
    for auth in ("", f"Authorization: Bearer {mallory}\r\n"):
        status, headers, body = raw(
            backend, post(f"/api/v1/environments/{env_id}/kubeconfig", headers=auth)
        )
        assert status in (400, 404), (env_id, status, body[:200])
        doc = json.loads(body)
        assert doc["reason"] in ("BadRequest", "NotFound")
        assert "x-injected" not in headers
        # Never echoed: the message is fixed text, not the caller's input.
        decoded = unquote(env_id)
        assert len(decoded) < 3 or decoded not in doc["message"]
        assert "\x00" not in doc["message"] and "\r" not in doc["message"]


def test_traversal_never_reaches_another_route(backend: BackendProcess) -> None:
    for path in ("/api/v1/environments/../../metrics", "/api/v1/%2e%2e/%2e%2e/healthz"):
        status, _, body = raw(backend, post(path))
        assert status in (400, 404, 405), (path, status)
        assert b"scipian_requests_total" not in body and body != b"ok\n"


@pytest.mark.parametrize("size", [65537, 1 << 20, 16 << 20])
def test_oversized_body_is_413_without_reading_it(backend: BackendProcess, size: int) -> None:
    # Declared length over the cap: refused from the header, the body never sent.
    head = (
        "POST /api/v1/environments/dev/kubeconfig HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    status, _, body = raw(backend, head)
    assert status == 413, body
    assert json.loads(body) == {"reason": "PayloadTooLarge", "message": "request body too large"}


def test_oversized_chunked_body_is_413(backend: BackendProcess) -> None:
    chunk = b"x" * 32768
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 4 + [b"0\r\n\r\n"]
    head = (
        b"POST /api/v1/environments/dev/kubeconfig HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    status, _, body = raw(backend, head + b"".join(parts))
    assert status == 413, body


@pytest.mark.parametrize("size", [16 << 10, 256 << 10])
def test_oversized_headers_are_refused(backend: BackendProcess, size: int) -> None:
    status, _, _ = raw(
        backend,
        post("/api/v1/environments/dev/kubeconfig", headers=f"X-Big: {'a' * size}\r\n"),
    )
    # uvicorn (httptools) answers 400 or closes; anything but a 5xx or a 200.
    assert status in (0, 400, 401, 413, 431), status
    assert requests.get(f"{backend.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "abc\r\nSet-Cookie: pwned=1",
        "abc\nSet-Cookie: pwned=1",
        "abc\rSet-Cookie: pwned=1",
        "abc\x00def",
        "<script>alert(1)</script>",
        "a" * 129,
        "../../etc/passwd",
        "é",
    ],
)
def test_request_id_injection_is_refused_or_replaced(backend: BackendProcess, value: str) -> None:
    status, headers, body = raw(
        backend, post("/api/v1/environments/dev/kubeconfig", headers=f"X-Request-Id: {value}\r\n")
    )
    assert status in (0, 400, 401), status  # the HTTP parser refuses bare CR/LF/NUL outright
    assert "set-cookie" not in headers
    if status == 401:
        # A CR/LF ends the header line: what follows is another request header, never a
        # response one. What comes back is the id's safe form, or a generated one.
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", headers["x-request-id"])
        assert headers["x-request-id"] in ("abc", value) or re.fullmatch(
            r"[0-9a-f]{32}", headers["x-request-id"]
        )
        assert value.encode("latin-1", "replace") not in body


@pytest.mark.parametrize(
    "value",
    ["Bearer a\r\nX-Injected: 1", "Bearer " + "A" * 60000, "Bearer \x00", "Bearer é.é.é"],
)
def test_garbage_authorization_is_401_or_refused(backend: BackendProcess, value: str) -> None:
    status, headers, body = raw(
        backend, post("/api/v1/environments/dev/kubeconfig", headers=f"Authorization: {value}\r\n")
    )
    assert status in (0, 400, 401, 431), status
    assert "x-injected" not in headers
    if status == 401:
        assert json.loads(body)["reason"] == "Unauthorized"

"""read/transport.py over support/http1.py: framing, kept-alive connections and failures,
against a socket server of the test's own that answers scripted bytes (the e2e parity
suites read through the same code from the real apiservers)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from urllib3.util.url import parse_url

from kubectl_scipian.read.errors import StatusError, TransportError
from kubectl_scipian.read.target import Target
from kubectl_scipian.read.transport import Client
from kubectl_scipian.support.http1 import request_target


class Script:
    """Accepts connections; for each request read, sends the next scripted answer (bytes, or
    a list of bytes sent apart; None closes the connection without answering)."""

    def __init__(self, answers: list[bytes | list[bytes] | None]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.go_on = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn, conn.makefile("rb") as reader:  # both: closed means closed
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = reader.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    self.requests.append(head)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    parts = answer if isinstance(answer, list) else [answer]
                    for i, part in enumerate(parts):
                        conn.sendall(part)
                        if i < len(parts) - 1:
                            self.go_on.wait(30)
                    if b"Connection: close" in parts[0] or (
                        b"Content-Length" not in parts[0] and b"chunked" not in parts[0]
                    ):
                        break

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def script() -> Iterator[list[Script]]:
    made: list[Script] = []
    yield made
    for s in made:
        s.close()


def client_for(made: list[Script], answers: list[bytes | list[bytes] | None]) -> Client:
    server = Script(answers)
    made.append(server)
    target = Target(f"http://127.0.0.1:{server.port}", "default", "t0k", None, False, None)
    return Client(target, Path("/nonexistent"))


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_one_connection_for_several_gets_with_the_request_as_before(script: list[Script]) -> None:
    client = client_for(script, [ok(b'{"a": 1}'), ok(b'{"b": 2}')])
    assert client.get_json("/api/v1/pods", {"labelSelector": "app in (a,b)", "limit": 0}) == {
        "a": 1
    }
    assert client.get_json("/api") == {"b": 2}
    server = script[0]
    assert server.connections == 1
    first = server.requests[0].decode().split("\r\n")
    assert first[0] == "GET /api/v1/pods?labelSelector=app+in+%28a%2Cb%29&limit=0 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in first
    assert "Authorization: Bearer t0k" in first and "Accept: application/json" in first
    assert "User-Agent: kubectl-scipian" in first


def test_a_chunked_stream_arrives_as_it_is_sent(script: list[Script]) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    client = client_for(script, [[head + b"4\r\none\n\r\n", b"6\r\ntwo\nx\n\r\n0\r\n\r\n"]])
    # The server sends the rest only when told: a reader that waited for more than the
    # first chunk would time out here.
    chunks = client.get("/logs", timeout=3).chunks()
    assert next(chunks) == b"one\n"
    script[0].go_on.set()
    assert b"".join(chunks) == b"two\nx\n"


def test_a_body_framed_by_the_end_of_the_connection(script: list[Script]) -> None:
    client = client_for(script, [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[1, 2]", ok(b"3")])
    assert client.get_json("/a") == [1, 2]
    assert client.get_json("/b") == 3  # on a new connection
    assert script[0].connections == 2


def test_a_kept_connection_the_server_closed_is_opened_again(script: list[Script]) -> None:
    client = client_for(script, [ok(b"1"), None, ok(b"2")])
    assert client.get_json("/a") == 1
    assert client.get_json("/b") == 2
    assert script[0].connections == 2


def test_warnings_interim_answers_and_error_statuses(script: list[Script]) -> None:
    seen: list[list[str]] = []
    status = b'{"kind":"Status","reason":"NotFound","message":"pods \\"x\\" not found"}'
    answers: list[bytes | list[bytes] | None] = [
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + ok(b"{}", 'Warning: 299 - "one"', 'Warning: 299 - "two"'),
        f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(status)}\r\n\r\n".encode() + status,
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
        ok(b"[]"),
    ]
    server = Script(answers)
    script.append(server)
    target = Target(f"http://127.0.0.1:{server.port}", "default", None, None, False, None)
    client = Client(target, Path("/nonexistent"), lambda h: seen.append(h.getlist("warning")))
    assert client.get_json("/a") == {}
    with pytest.raises(StatusError) as caught:
        client.get_json("/b")
    assert caught.value.message == 'Error from server (NotFound): pods "x" not found'
    assert client.get_json("/c") == []  # the 429 was retried after its Retry-After
    assert seen[0] == ['299 - "one"', '299 - "two"']
    assert server.connections == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "Unable to connect to the server: EOF",
        ),
        (None, "Unable to connect to the server: EOF"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "Unable to connect to the server: malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
    ids=["short-body", "no-answer", "not-http", "bad-chunk"],
)
def test_broken_answers_are_transport_errors(
    script: list[Script], answer: bytes | None, message: str
) -> None:
    client = client_for(script, [answer])
    with pytest.raises(TransportError) as caught:
        client.get_json("/a")
    assert caught.value.message.startswith("Unable to connect to the server: ")
    assert message in caught.value.message


def test_connection_refused_in_kubectl_words() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    target = Target(f"https://127.0.0.1:{port}", "default", None, None, False, None)
    with pytest.raises(TransportError) as caught:
        Client(target, Path("/nonexistent")).get("/api")
    assert caught.value.message == (
        f"The connection to the server 127.0.0.1:{port} was refused"
        " - did you specify the right host or port?"
    )


def test_a_programming_error_is_raised_as_what_it_is(script: list[Script]) -> None:
    client = client_for(script, [ok(b"{}")])

    def changed(*args: object) -> None:
        raise AttributeError("no such thing")

    client._conn.get = changed  # type: ignore[method-assign, assignment]
    with pytest.raises(AttributeError, match="no such thing"):
        client.get("/api")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/pods/a b",
        "/api/v1/namespaces/default/pods/é",
        "/api/v1/namespaces/default/pods/x#y",
        "/api/v1/namespaces/default/pods/q%41",
        "/api/v1/namespaces/default/pods/p%zz%41",
        "/api/v1/namespaces/default/pods/..",
        "/api/v1/namespaces/./default/pods/.",
        "/api/v1/pods/a?b?labelSelector=x%3Dy&limit=5",
        "/api/v1/pods?fieldSelector=a+b&x=%5E",
        "/a/b/../../../c",
        "",
    ],
)
def test_request_targets_are_what_urllib3_sent(path: str) -> None:
    """The same bytes on the wire as the kubernetes client's REST layer (urllib3's
    parse_url), even for names that no apiserver accepts."""
    assert request_target(path) == parse_url("https://h:1" + path).request_uri

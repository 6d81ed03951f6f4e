"""HTTP/1.1 GETs over a socket (and ssl for https), for the plugin's start-up paths.

Why not urllib3 (the `kubernetes` client's REST layer) or http.client: a read command is
measured beside kubectl (bench: get_warm), and importing urllib3 (which imports
http.client, which imports the email package to parse headers) costs more than a warm
`get` does otherwise. A GET to an apiserver needs little of HTTP: a status line,
headers (repeated ones kept: `Warning`), and a body framed by Content-Length, chunked
transfer coding, or the end of the connection; this reads exactly that, streaming, and
keeps one connection alive between GETs as client-go does.

Errors are OSErrors: the socket's and ssl's own, `BadAnswer` for a malformed answer, and
`ConnectionResetError("EOF")` for a connection that ends before its answer does (Go's
words for it).
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterable
from typing import Any

MAX_LINE = 65536  # a status or header line; Go's default limit for all headers is 1 MB
MAX_HEADERS = 256


class BadAnswer(OSError):
    """The server's bytes are not an HTTP/1.x answer."""


class Headers:
    """An answer's header lines, in order; names compare case-insensitively."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def getlist(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.pairs if k.lower() == key]

    def get(self, name: str, default: str | None = None) -> str | None:
        found = self.getlist(name)
        return found[0] if found else default


def request_target(path_and_query: str) -> str:
    """The request target for `path_and_query` as urllib3 sent it (parse_url): the path
    up to the first `?` or `#`, characters outside RFC 3986's sets percent-encoded
    (UTF-8), existing escapes kept, dot segments removed; the fragment dropped."""
    cut = len(path_and_query)
    for mark in "?#":
        at = path_and_query.find(mark)
        if 0 <= at < cut:
            cut = at
    path, rest = path_and_query[:cut], path_and_query[cut:]
    path = _encode(path, _PATH_CHARS)
    if "/." in path or path.startswith("."):
        path = _remove_dot_segments(path)
    query = rest[1:].partition("#")[0] if rest.startswith("?") else None
    target = path or "/"
    return target if query is None else f"{target}?{_encode(query, _QUERY_CHARS)}"


_PATH_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-~!$&'()*+,;=:@/"
)
_QUERY_CHARS = _PATH_CHARS | {"?"}
_PERCENT = re.compile(r"%[a-fA-F0-9]{2}")


def _encode(component: str, allowed: frozenset[str]) -> str:
    """urllib3's _encode_invalid_chars: when every `%` starts an escape, escapes stay (upper
    case) and other characters are encoded; otherwise `%` is encoded too."""
    if "%" not in component and component.isascii() and allowed.issuperset(component):
        return component
    component, escapes = _PERCENT.subn(lambda m: m.group(0).upper(), component)
    raw = component.encode("utf-8", "surrogatepass")
    keep_percent = escapes == raw.count(b"%")
    out = bytearray()
    for byte in raw:
        if (keep_percent and byte == 0x25) or (byte < 128 and chr(byte) in allowed):
            out.append(byte)
        else:
            out += f"%{byte:02X}".encode()
    return out.decode()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, as urllib3 does it."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment == ".":
            continue
        if segment != "..":
            out.append(segment)
        elif out:
            out.pop()
    if path.startswith("/") and (not out or out[0]):
        out.insert(0, "")
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/".join(out)


class Connection:
    """One kept-alive connection to `host:port`, opened on first use and again after the
    server closed it. `tls`: an ssl.SSLContext for https, None for http."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: Any = None,
        server_hostname: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.tls = tls
        self.server_hostname = server_hostname or host
        self.timeout: float | None = None
        self.authority = host if ":" not in host else f"[{host}]"
        default = 443 if tls is not None else 80
        if port != default:
            self.authority += f":{port}"
        self._sock: Any = None
        self._reader: Any = None
        self._busy: Answer | None = None

    def get(
        self, target: str, headers: Iterable[tuple[str, str]], timeout: float | None = None
    ) -> Answer:
        """Sends one GET and reads its status and headers; the body is the answer's to read.
        `timeout` (seconds) bounds the connect and each read of this GET's answer.
        A connection that was used before and turns out closed by the server is opened
        again once (the server may drop an idle connection at any time)."""
        if self._busy is not None:  # the last answer was not read to its end
            self.close()
        self.timeout = timeout
        lines = [f"GET {target} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{k}: {v}" for k, v in headers]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        reused = self._sock is not None
        try:
            return self._exchange(request)
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            if not reused:
                raise
            self.close()
            return self._exchange(request)

    def _exchange(self, request: bytes) -> Answer:
        if self._sock is None:
            self._open()
        else:
            self._sock.settimeout(self.timeout)
        try:
            self._sock.sendall(request)
            answer = self._read_head()
        except BaseException:
            self.close()
            raise
        if not answer.ended:
            self._busy = answer
        elif not answer.keep:
            self.close()
        return answer

    def _open(self) -> None:
        # Host names as bytes: given text, getaddrinfo and ssl encode it with the idna
        # codec, whose import (stringprep, unicodedata) costs more than the connect.
        host, name = _ascii(self.host), _ascii(self.server_hostname)
        sock = socket.create_connection((host, self.port), timeout=self.timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=name)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._reader = sock.makefile("rb")

    def _read_head(self) -> Answer:
        while True:
            line = self._line()
            parts = line.split(" ", 2)
            code = parts[1] if len(parts) > 1 else ""
            if not (parts[0].startswith("HTTP/1.") and len(code) == 3 and code.isdecimal()):
                raise BadAnswer(f"malformed HTTP status line: {line[:80]!r}")
            status = int(code)
            pairs = self._headers()
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103): the real one follows
            return Answer(self, status, Headers(pairs), parts[0])

    def _line(self) -> str:
        raw = self._reader.readline(MAX_LINE + 1)
        if not raw:
            raise ConnectionResetError("EOF")
        if len(raw) > MAX_LINE:
            raise BadAnswer("HTTP line too long")
        return str(raw.decode("latin-1").rstrip("\r\n"))

    def _headers(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        while True:
            line = self._line()
            if not line:
                return pairs
            if len(pairs) >= MAX_HEADERS:
                raise BadAnswer("too many HTTP headers")
            if line[0] in " \t" and pairs:  # an obsolete folded continuation line
                name, value = pairs[-1]
                pairs[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise BadAnswer(f"malformed HTTP header line: {line[:80]!r}")
            pairs.append((name, value.strip()))

    def done(self, answer: Answer, reusable: bool) -> None:
        """The answer was read to its end (or abandoned): keep the connection or close it."""
        if self._busy is answer:
            self._busy = None
            if not reusable:
                self.close()

    def close(self) -> None:
        self._busy = None
        reader, sock = self._reader, self._sock
        self._reader = self._sock = None
        for closable in (reader, sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _ascii(host: str) -> str | bytes:
    """An ASCII host name as bytes (what the idna codec would give); others as they are."""
    return host.encode("ascii") if host.isascii() else host


class Answer:
    """Status, headers and a streamed body. Read it with read1/read, then release()."""

    def __init__(self, conn: Connection, status: int, headers: Headers, version: str) -> None:
        self._conn = conn
        self.status = status
        self.headers = headers
        self._left: int | None = None  # bytes left: of the body (Content-Length) or chunk
        self._chunked = False
        self._done = False
        keep = version == "HTTP/1.1"
        tokens = {t.strip().lower() for v in headers.getlist("Connection") for t in v.split(",")}
        self._keep = (keep or "keep-alive" in tokens) and "close" not in tokens
        coding = ",".join(headers.getlist("Transfer-Encoding")).lower()
        length = headers.getlist("Content-Length")
        if status in (204, 304):
            self._left, self._done = 0, True
        elif coding:
            if coding.rsplit(",", 1)[-1].strip() != "chunked":
                self._keep = False  # framed by the end of the connection
            else:
                self._chunked = True
                self._left = 0
        elif length:
            if len(set(length)) != 1 or not (length[0].isascii() and length[0].isdecimal()):
                raise BadAnswer("malformed Content-Length")
            self._left = int(length[0])
            self._done = self._left == 0
        else:
            self._keep = False  # framed by the end of the connection

    @property
    def ended(self) -> bool:
        """The body is read to its end (or there is none)."""
        return self._done

    @property
    def keep(self) -> bool:
        """The connection may carry the next request once the body is read."""
        return self._keep

    def read1(self, size: int = 65536) -> bytes:
        """Some of the body as soon as it is there (at most `size` bytes); b"" at its end."""
        if self._done:
            return b""
        reader = self._conn._reader
        try:
            if self._chunked and self._left == 0 and not self._next_chunk(reader):
                return self._finish(b"")
            want = size if self._left is None else min(size, self._left)
            data = reader.read1(want) if want > 0 else b""
            if not data:
                if self._left is None:  # framed by the end of the connection: this is it
                    return self._finish(b"")
                raise ConnectionResetError("EOF")  # the connection ended inside the body
            if self._left is not None:
                self._left -= len(data)
                if self._left == 0 and self._chunked:
                    self._chunk_end(reader)
                elif self._left == 0:
                    return self._finish(data)
        except BaseException:
            self._abandon()
            raise
        return data

    def _next_chunk(self, reader: Any) -> bool:
        """Reads the next chunk's size line; False at the last chunk (trailers skipped)."""
        line = reader.readline(1026)
        if not line.endswith(b"\n"):
            raise ConnectionResetError("EOF") if not line else BadAnswer("bad chunk size")
        digits = line.split(b";", 1)[0].strip()
        if not digits or len(digits) > 16 or not _HEX_DIGITS.issuperset(digits):
            raise BadAnswer("bad chunk size")
        size = int(digits, 16)
        if size == 0:
            for _ in range(MAX_HEADERS + 1):  # trailers, up to an empty line
                trailer = reader.readline(MAX_LINE + 1)
                if not trailer:
                    raise ConnectionResetError("EOF")
                if trailer in (b"\r\n", b"\n"):
                    return False
            raise BadAnswer("too many trailers")
        self._left = size
        return True

    def _chunk_end(self, reader: Any) -> None:
        end = reader.readline(3)
        if end not in (b"\r\n", b"\n"):
            raise ConnectionResetError("EOF") if not end else BadAnswer("bad chunk end")

    def read(self) -> bytes:
        """The rest of the body."""
        parts: list[bytes] = []
        while True:
            data = self.read1(1 << 20)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def _finish(self, data: bytes) -> bytes:
        self._done = True
        self._conn.done(self, self._keep)
        return data

    def _abandon(self) -> None:
        self._done = True
        self._conn.done(self, False)

    def release(self) -> None:
        """Done with this answer: an unread rest closes the connection (never read here:
        a watch or `logs -f` never ends)."""
        if not self._done:
            self._abandon()

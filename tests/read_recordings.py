"""Recorded apiserver answers and kubectl's output, for the fast tests of `read/`.

Recording (needs the stack; `make recordings`):

    .venv/bin/python -m tests.read_recordings record

runs the e2e parity suites (tests/e2e/test_parity_{get,describe,logs}.py) with
READ_RECORD_DIR set. For each recorded case the parity runner's plugin run goes through
a `Recorder` around the read Session's client (every GET it made: discovery included,
with a cold discovery cache), and kubectl's stdout/stderr/exit of the same command and
the clock of that moment are kept beside it. The cases are merged into
`tests/data/read/<suite>.json`: the bodies once each (by hash), tokens blanked, the
server's address made constant.

Replaying (no stack, `tests/unit/test_read_recorded.py`): `Replayer` answers every
request from the recording, the read commands' clock is set to the recorded moment,
and the output must be kubectl's, byte for byte.

Recorded: every parametrized case of test_get, test_describe, test_describe_builtin,
test_describe_node and test_logs (logs of several sources compare as kubectl's
order-free source blocks), and test_parity_describe_kinds's test_describe_kind,
test_describe_ip_address and test_server_warnings (an exchange keeps the server's
`Warning` headers; the replay hands them to the run's warning printer). Left to e2e:
following a log as it grows, the 20 MB log, connection refused, the discovery cache's
refresh, the legacy token Secret (a deliberate difference, and a token), and the
several-environment commands.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kubectl_scipian.read.errors import StatusError, TransportError, Unauthorized

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "read"
SUITES = ("get", "describe", "logs")
FORMAT = 1
TZ = "UTC"  # kubectl and the plugin print local times; both run in this zone
# Environment of the parity runner's plugin process while recording.
RECORD_ENV = "READ_RECORD_FILE"  # where the runner writes the exchanges of one run
CLOCK_ENV = "READ_RECORD_CLOCK"  # ISO time the runner's clock is fixed to
DIR_ENV = "READ_RECORD_DIR"  # where Parity.compare drops the recorded cases

DEFAULT_ACCEPT = "application/json"  # the read client's, when a caller names none
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
B64 = re.compile(r"^[A-Za-z0-9+/]{40,}={0,2}$")


# -- the client side: record and replay ------------------------------------------------------


def request_key(kind: str, path: str, query: Mapping[str, Any] | None, accept: str) -> str:
    """One request, as the client sends it (empty query values are not sent)."""
    params = sorted((str(k), str(v)) for k, v in (query or {}).items() if v is not None and v != "")
    q = "&".join(f"{k}={v}" for k, v in params)
    return f"{kind} {path}{'?' + q if q else ''} [{accept}]"


def _error_doc(e: Exception) -> dict[str, Any]:
    if isinstance(e, StatusError):
        return {
            "class": type(e).__name__,
            "code": e.code,
            "reason": e.reason,
            "text": e.text,
            "status": e.status,
        }
    return {"class": "TransportError", "message": getattr(e, "message", str(e))}


def _raise(doc: Mapping[str, Any]) -> None:
    if doc["class"] == "TransportError":
        raise TransportError(doc["message"])
    cls = Unauthorized if doc["class"] == "Unauthorized" else StatusError
    raise cls(doc["code"], doc["reason"], doc["text"], doc["status"])


class _RecordedStream:
    def __init__(self, inner: Any, exchange: dict[str, Any]) -> None:
        self._inner = inner
        self._exchange = exchange

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        data = bytearray()
        try:
            for chunk in self._inner.chunks(size):
                data += chunk
                yield chunk
        except Exception as e:
            self._exchange["error"] = _error_doc(e)
            raise
        finally:
            self._exchange["text"] = data.decode("utf-8", "surrogateescape")

    def json(self) -> Any:
        doc = self._inner.json()
        self._exchange["json"] = doc
        return doc


class Recorder:
    """The read Session's client, keeping every exchange (in order)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.exchanges: list[dict[str, Any]] = []
        handler = getattr(inner, "_warn", None)
        if handler is not None:
            # the server's Warning headers arrive inside the request the last exchange is
            inner._warn = lambda headers: self._warned(handler, headers)

    def _warned(self, handler: Any, headers: Any) -> None:
        from kubectl_scipian.read.warnings import header_values

        values = header_values(headers)
        if values and self.exchanges:
            self.exchanges[-1].setdefault("warnings", []).extend(values)
        handler(headers)

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, accept: str = DEFAULT_ACCEPT
    ) -> Any:
        exchange: dict[str, Any] = {"key": request_key("json", path, query, accept)}
        self.exchanges.append(exchange)
        try:
            doc = self._inner.get_json(path, query, accept)
        except Exception as e:
            exchange["error"] = _error_doc(e)
            raise
        exchange["json"] = doc
        return doc

    def get(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        accept: str = DEFAULT_ACCEPT,
        timeout: float | None = None,
    ) -> Any:
        exchange: dict[str, Any] = {"key": request_key("stream", path, query, accept)}
        self.exchanges.append(exchange)
        try:
            inner = self._inner.get(path, query, accept, timeout)
        except Exception as e:
            exchange["error"] = _error_doc(e)
            raise
        return _RecordedStream(inner, exchange)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ReplayedStream:
    def __init__(self, exchange: Mapping[str, Any]) -> None:
        self._exchange = exchange

    def chunks(self, size: int = 65536) -> Iterator[bytes]:
        data = str(self._exchange.get("text", "")).encode("utf-8", "surrogateescape")
        for i in range(0, len(data), size):
            yield data[i : i + size]
        if "error" in self._exchange:
            _raise(self._exchange["error"])

    def json(self) -> Any:
        return self._exchange["json"]


class _WarningHeaders:
    """Recorded `Warning` header lines, as the transport hands headers to the printer."""

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def getlist(self, name: str) -> list[str]:
        return list(self._values) if name == "Warning" else []


class UnrecordedRequest(AssertionError):
    pass


class Replayer:
    """Answers each request with what the server answered when it was recorded."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.warn: Any = None  # the Session's server-warning printer (client_swapped sets it)
        self._by_key: dict[str, list[dict[str, Any]]] = {}
        for e in exchanges:
            self._by_key.setdefault(e["key"], []).append(e)
        self._used: dict[str, int] = {}

    def _next(self, key: str) -> dict[str, Any]:
        found = self._by_key.get(key)
        if not found:
            raise UnrecordedRequest(f"not in the recording: {key}")
        i = self._used.get(key, 0)
        self._used[key] = i + 1
        exchange = found[min(i, len(found) - 1)]
        if exchange.get("warnings") and self.warn is not None:
            self.warn(_WarningHeaders(exchange["warnings"]))
        return exchange

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, accept: str = DEFAULT_ACCEPT
    ) -> Any:
        exchange = self._next(request_key("json", path, query, accept))
        if "error" in exchange:
            _raise(exchange["error"])
        return json.loads(json.dumps(exchange["json"]))  # a copy: callers may change it

    def get(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        accept: str = DEFAULT_ACCEPT,
        timeout: float | None = None,
    ) -> Any:
        exchange = self._next(request_key("stream", path, query, accept))
        if "error" in exchange and "text" not in exchange:
            _raise(exchange["error"])
        return _ReplayedStream(exchange)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def client_swapped(make: Any, wrap_real: bool) -> Iterator[list[Any]]:
    """Every read Session made inside uses `make(the real client or None)` as its client.

    Yields the list of clients made. The Session's public `client` is the seam: the
    describers, printers and discovery all reach the server through it.
    """
    import kubectl_scipian.read.session as session_module

    base = session_module.Session
    made: list[Any] = []

    class Swapped(base):  # type: ignore[misc, valid-type]
        _swapped: Any = None

        @property
        def client(self) -> Any:
            if self._swapped is None:
                real = super().client if wrap_real else None
                self._swapped = make(real)
                if getattr(self._swapped, "warn", False) is None:
                    self._swapped.warn = self.warnings().handle
                made.append(self._swapped)
            return self._swapped

    session_module.Session = Swapped  # type: ignore[misc]
    try:
        yield made
    finally:
        session_module.Session = base  # type: ignore[misc]


@contextlib.contextmanager
def clock_at(now: datetime) -> Iterator[None]:
    import time

    from kubectl_scipian.read import humanize

    before_clock, before_tz = humanize.clock, os.environ.get("TZ")
    humanize.clock = lambda: now
    os.environ["TZ"] = TZ
    time.tzset()
    try:
        yield
    finally:
        humanize.clock = before_clock
        if before_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before_tz
        time.tzset()


# -- the parity runner's side while recording ------------------------------------------------


@contextlib.contextmanager
def runner_hooks() -> Iterator[None]:
    """In the parity runner: records the run's exchanges when RECORD_ENV says where to."""
    target = os.environ.get(RECORD_ENV)
    if not target:
        yield
        return
    now = datetime.fromisoformat(os.environ[CLOCK_ENV])
    with clock_at(now), client_swapped(Recorder, wrap_real=True) as made:
        try:
            yield
        finally:
            exchanges = [e for client in made for e in client.exchanges]
            Path(target).write_text(json.dumps(exchanges))


# -- comparing logs of several sources ------------------------------------------------------


def source_of(line: str) -> str:
    """Which container of which pod a fixture line comes from (see the fixture's lines)."""
    if line.startswith("[pod/"):
        return line.split("]", 1)[0]
    text = line.strip()
    if " line " in text:
        return text.split(" line ")[0]
    return text.rstrip("0123456789")


def source_blocks(out: str) -> list[str]:
    """The output cut into runs of lines from one source, each run kept whole."""
    runs: list[tuple[str, str]] = []
    for line in out.splitlines(keepends=True):
        key = source_of(line)
        if runs and runs[-1][0] == key:
            runs[-1] = (key, runs[-1][1] + line)
        else:
            runs.append((key, line))
    keys = [k for k, _ in runs]
    assert len(keys) == len(set(keys)), f"a source's lines are not contiguous: {keys}"
    return sorted(text for _, text in runs)


# -- the data files --------------------------------------------------------------------------


def _blank_jwts(text: str) -> str:
    return JWT.sub(lambda m: "x" * len(m.group(0)), text)


def _scrub(value: Any, replace: Mapping[str, str]) -> Any:
    """Tokens become x's of the same length (base64-wrapped ones too), addresses constant."""
    if isinstance(value, dict):
        return {k: _scrub(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, replace) for v in value]
    if not isinstance(value, str):
        return value
    for old, new in replace.items():
        value = value.replace(old, new)
    value = _blank_jwts(value)
    if B64.match(value):
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return value
        blanked = _blank_jwts(decoded)
        if blanked != decoded:
            return base64.b64encode(blanked.encode()).decode()
    return value


def _same_length_address(server: str) -> dict[str, str]:
    """The stack's apiserver address, if it ever shows, as a constant of the same width."""
    m = re.match(r"https?://([^/:]+):(\d+)", server)
    if not m:
        return {}
    host, port = m.groups()
    return {f"{host}:{port}": f"{host}:{'6' * len(port)}"}


def case_file(directory: Path, suite: str, case_id: str) -> Path:
    digest = hashlib.sha256(f"{suite}\0{case_id}".encode()).hexdigest()[:16]
    return directory / f"{suite}-{digest}.json"


def merge(directory: Path) -> dict[str, int]:
    """The cases dropped in `directory` into tests/data/read/<suite>.json; counts per suite."""
    counts: dict[str, int] = {}
    DATA.mkdir(parents=True, exist_ok=True)
    for suite in SUITES:
        cases = [json.loads(p.read_text()) for p in sorted(directory.glob(f"{suite}-*.json"))]
        if not cases:
            continue
        bodies: dict[str, Any] = {}
        out_cases = []
        for case in sorted(cases, key=lambda c: int(c["order"])):
            case = _scrub(case, _same_length_address(case.pop("server")))
            exchanges = []
            for e in case.pop("exchanges"):
                for field in ("json", "text"):
                    if field in e:
                        blob = json.dumps(e[field], sort_keys=False)
                        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
                        bodies.setdefault(digest, e[field])
                        e[field] = digest
                exchanges.append(e)
            case.pop("order")
            out_cases.append({**case, "exchanges": exchanges})
        doc = {"format": FORMAT, "tz": TZ, "cases": out_cases, "bodies": bodies}
        (DATA / f"{suite}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        counts[suite] = len(out_cases)
    return counts


def load(suite: str) -> list[dict[str, Any]]:
    """The recorded cases of a suite, bodies put back in place."""
    doc = json.loads((DATA / f"{suite}.json").read_text())
    assert doc["format"] == FORMAT
    bodies = doc["bodies"]
    cases = []
    for case in doc["cases"]:
        exchanges = []
        for e in case["exchanges"]:
            e = dict(e)
            for field in ("json", "text"):
                if field in e:
                    e[field] = bodies[e[field]]
            exchanges.append(e)
        cases.append({**case, "exchanges": exchanges})
    return cases


def record(pytest_args: list[str]) -> int:
    import subprocess

    with tempfile.TemporaryDirectory(prefix="read-recordings-") as tmp:
        env = {**os.environ, DIR_ENV: tmp, "TZ": TZ}
        suites = [f"tests/e2e/test_parity_{s}.py" for s in SUITES]
        suites.append("tests/e2e/test_parity_describe_kinds.py")  # into describe.json, get.json
        rc = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites, *pytest_args],
            cwd=ROOT,
            env=env,
        )
        counts = merge(Path(tmp))
    print(f"recorded {counts} into {DATA.relative_to(ROOT)}/ (pytest exit {rc})")
    return rc


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "record":
        print("usage: python -m tests.read_recordings record [pytest args...]", file=sys.stderr)
        return 2
    return record(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""HAProxy (Debian's `haproxy`) in front of the stack's backend replicas, as production runs
the backend: round robin, health checks on /readyz, a request that met a refused connection
or an empty response sent again to the other replica (`retry-on conn-failure
empty-response`, `option redispatch`).

`config(port, servers, admin_socket)` is the one configuration, used by the stack (process
"balancer", `start`) and by a test that runs a balancer of its own in front of backends of
its own (`Balancer.spawn`). It runs as the current user, in the foreground (`-db`), on a
free loopback port, its configuration and admin socket under the stack dir; its log (health
state changes, and requests that met an error or were retried) is `balancer.log`.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import procs
from tests.stack.paths import stack_dir

# Health checks: every CHECK_MS; FALL failures in a row take a replica out, RISE successes
# put it back. A stopping replica fails /readyz for UNREADY_SECONDS (its
# `--shutdown-unready-seconds`), comfortably more than FALL intervals, before it stops
# listening: the balancer has taken it out by then.
CHECK_MS = 500
FALL = 3
RISE = 2
UNREADY_SECONDS = 2.5
SBIN = (Path("/usr/sbin"), Path("/sbin"))
# HAProxy refuses a UNIX socket path longer than this (it binds a temporary name beside it
# first); a stack dir deep under pytest's tmp_path is longer.
MAX_SOCKET_PATH = 97


def haproxy() -> str:
    found = shutil.which("haproxy") or next(
        (str(d / "haproxy") for d in SBIN if (d / "haproxy").is_file()), None
    )
    if found is None:
        raise RuntimeError("haproxy not found: install Debian's haproxy (scripts/bootstrap)")
    return found


def config(port: int, servers: Sequence[tuple[str, str]], admin_socket: Path) -> str:
    """HAProxy's configuration: a frontend on 127.0.0.1:`port` and one server per
    (name, "host:port") in `servers`."""
    lines = [
        "global",
        "    log stdout format raw local0 info",
        f"    stats socket {admin_socket} mode 600 level admin",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    option dontlog-normal",  # only errors, retries and redispatches
        "    option forwardfor",
        "    retries 3",
        "    retry-on conn-failure empty-response",
        "    option redispatch 1",  # every retry goes to another replica
        "    timeout connect 2s",
        "    timeout check 5s",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 30s",
        # Long polls (a promotion's watch) and the dashboard's followed logs stay open.
        "    timeout client 10m",
        "    timeout server 10m",
        "frontend scipian",
        f"    bind 127.0.0.1:{port}",
        "    default_backend replicas",
        "backend replicas",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        f"    default-server inter {CHECK_MS}ms fall {FALL} rise {RISE}",
        *(f"    server {name} {address} check" for name, address in servers),
    ]
    return "\n".join(lines) + "\n"


def admin_socket(directory: Path) -> Path:
    """The admin socket of the balancer configured in `directory`: inside it, or, when that
    path is too long for HAProxy, a name in the temporary directory derived from it."""
    inside = directory / "admin.sock"
    if len(str(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"scipian-haproxy-{digest}.sock"


def _write(directory: Path, port: int, servers: Sequence[tuple[str, str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "haproxy.cfg"
    path.write_text(config(port, servers, admin_socket(directory)))
    return path


def argv(cfg: Path) -> list[str]:
    return [haproxy(), "-db", "-f", str(cfg)]


def stack_config_dir() -> Path:
    return stack_dir() / "balancer"


def start(port: int, servers: Sequence[tuple[str, str]], timeout: float = 30.0) -> str:
    """The stack's balancer (process "balancer") on `port`; returns its URL once a replica
    answers /readyz through it."""
    cfg = _write(stack_config_dir(), port, servers)
    procs.spawn("balancer", argv(cfg))
    url = f"http://127.0.0.1:{port}"
    wait_serving(url, timeout, lambda: "balancer" in procs.dead())
    return url


def wait_serving(url: str, timeout: float, died: object = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(died) and died():
            raise RuntimeError(f"haproxy exited; see {procs.log_dir() / 'balancer.log'}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=3) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"balancer at {url} not serving after {timeout:.0f}s")


def server_states(admin_socket: Path) -> dict[str, str]:
    """Each server's state as the balancer sees it (`UP`, `DOWN`, `MAINT`, `UP 1/2`, ...),
    from its admin socket's `show stat`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(admin_socket))
        s.sendall(b"show stat\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    rows = b"".join(chunks).decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    states = {}
    for row in rows[1:]:
        values = dict(zip(header, row.split(","), strict=False))
        if values.get("pxname") == "replicas" and values.get("svname") not in (
            "BACKEND",
            None,
        ):
            states[values["svname"]] = values["status"]
    return states


def wait_state(admin_socket: Path, server: str, state: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = server_states(admin_socket).get(server, "")
        if seen == state:
            return
        time.sleep(0.1)
    raise TimeoutError(f"balancer: {server} is {seen or 'unknown'}, not {state}")


@dataclass
class Balancer:
    """A test-owned balancer (not tracked by the stack) in front of test-owned backends."""

    url: str
    admin_socket: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @classmethod
    def spawn(cls, name: str, servers: Sequence[tuple[str, str]]) -> Balancer:
        port = _free_port()
        directory = stack_dir() / f"balancer-{name}-{port}"
        cfg = _write(directory, port, servers)
        log_path = procs.log_dir() / f"balancer-{name}-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv(cfg), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_serving(url, 30, lambda: process.poll() is not None)
        except BaseException:
            process.kill()
            process.wait()
            raise
        return cls(url, admin_socket(directory), log_path, process)

    def states(self) -> dict[str, str]:
        return server_states(self.admin_socket)

    def wait_state(self, server: str, state: str, timeout: float = 30.0) -> None:
        wait_state(self.admin_socket, server, state, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

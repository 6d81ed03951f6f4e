"""The dashboard's log follows and data routes as a hostile client would use them, over raw
HTTP against backends of the test's own (their RSS read from /proc), with a KWOK pod of the
test's own on dev whose log the test writes (tests/stack/podlogs.py).

- A pod printing without newlines, and a browser that stops reading, grow the backend by
  less than 50 MB (lines are cut at --ui-log-line-bytes; at most 64 lines wait).
- The 11th follow of a user is refused (the default of --ui-follows-per-user), and the
  replica's cap (--ui-follows-per-replica, small here) holds across users.
- Logout ends an open follow at once; so does the session's expiry.
- No GET mints a credential: the pods and logs pages mint only on a same-origin POST
  carrying the session's CSRF token in a header (the audit log says who minted what).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.ui.conftest import sign_in_http
from tests.stack.backend_daemon import BackendProcess, spawn_backend, ui_callback
from tests.stack.idp_daemon import CLIENT_ID
from tests.stack.podlogs import append_lines, give_logs

pytestmark = pytest.mark.stack
MB = 1024 * 1024


@dataclass
class Pod:
    ns: str
    name: str
    log_file: Path


@dataclass
class Dashboard:
    backend: BackendProcess
    http: requests.Session
    csrf: str

    @property
    def port(self) -> int:
        return int(self.backend.url.rsplit(":", 1)[1])

    def stream_path(self, pod: Pod, tail: int = 10) -> str:
        return f"/ui/environments/dev/logs/{pod.ns}/{pod.name}/stream?tail={tail}"

    def follow(self, pod: Pod, rid: str | None = None) -> requests.Response:
        headers = {"X-CSRF-Token": self.csrf, "X-Request-Id": rid or uuid.uuid4().hex}
        return self.http.post(
            self.backend.url + self.stream_path(pod), headers=headers, stream=True, timeout=60
        )

    def rss(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the backend process, in bytes."""
        status = Path(f"/proc/{self.backend.process.pid}/status").read_text()
        got = {
            k: int(v.split()[0]) * 1024 for k, v in re.findall(r"^(Vm\w+):\s+(.*)$", status, re.M)
        }
        return got["VmRSS"], got["VmHWM"]

    def reset_peak(self) -> None:
        # Linux: "5" resets the peak RSS (VmHWM) to the current RSS.
        Path(f"/proc/{self.backend.process.pid}/clear_refs").write_text("5")

    def audit(self) -> list[dict[str, object]]:
        lines = []
        for raw in self.backend.log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return lines


def _events(r: requests.Response) -> Iterator[tuple[str, str]]:
    """(event, data) of a server-sent event stream, as they come."""
    event = ""
    for raw in r.iter_lines(chunk_size=1):
        line = raw.decode("utf-8", "replace")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, line[6:]


@pytest.fixture(scope="module")
def pod(stack: Stack) -> Iterator[Pod]:
    ns = f"t-uilim-{uuid.uuid4().hex[:6]}"
    name = "chatty"
    stack.kubectl("dev", "create", "namespace", ns)
    on_kwok = {
        "spec": {
            "nodeSelector": {"type": "kwok"},
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
        }
    }
    stack.kubectl(
        "dev", "run", name, "-n", ns, "--image=registry.example/web:1",
        "--overrides", json.dumps(on_kwok),
    )  # fmt: skip
    stack.kubectl("dev", "wait", "-n", ns, f"pod/{name}", "--for=condition=Ready", "--timeout=60s")
    files = give_logs(stack.kubeconfig("dev"), ns, name, {name: ["started"]})
    yield Pod(ns, name, files[name])
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)
    files[name].unlink(missing_ok=True)  # hundreds of MB by then


def _dashboard(stack: Stack, extra: list[str], user: str = "alice") -> Dashboard:
    backend = spawn_backend(stack.env["STACK_IDP_ISSUER"], CLIENT_ID, extra, name="ui-limits")
    try:
        port = int(backend.url.rsplit(":", 1)[1])
        r = requests.post(
            f"{stack.env['STACK_IDP_ISSUER']}/admin/ui-redirect-uris",
            params={"uri": ui_callback(port)},
            headers={"X-Admin-Secret": stack.env["STACK_IDP_ADMIN_SECRET"]},
            timeout=10,
        )
        assert r.status_code == 200
        return _sign_in(stack, backend, user)
    except BaseException:
        backend.stop()
        raise


def _sign_in(stack: Stack, backend: BackendProcess, user: str) -> Dashboard:
    return Dashboard(backend, *sign_in_http(stack, backend.url, user))


@pytest.fixture(scope="module")
def alice(stack: Stack, pod: Pod) -> Iterator[Dashboard]:
    """A backend of the module's own with the default follow limits, alice signed in."""
    d = _dashboard(stack, [])
    try:
        # Warm it up once (threads, connection pools), so growth measures the attack only.
        with d.follow(pod) as r:
            assert r.status_code == 200
            assert next(_events(r))[0] == "reset"
        yield d
    finally:
        d.backend.stop()


def _write_without_newlines(path: Path, total: int, marker: str) -> None:
    """`total` bytes the pod prints without a newline (CRI partial entries), then a newline
    and a line `marker`."""
    piece = "a" * (64 * 1024)
    with open(path, "a", encoding="utf-8") as f:
        for _ in range(total // len(piece)):
            ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            f.write(f"{ts} stdout P {piece}\n")
    append_lines(path, ["", marker])


def test_a_pod_printing_without_newlines_costs_one_cut_line(alice: Dashboard, pod: Pod) -> None:
    marker = f"marker {uuid.uuid4().hex[:8]}"
    seen: list[str] = []
    with alice.follow(pod) as r:
        assert r.status_code == 200
        events = _events(r)
        assert next(events)[0] == "reset"

        def read() -> None:
            with contextlib.suppress(requests.RequestException):
                for _event, data in events:
                    seen.append(data)
                    if data == marker:
                        return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        rss_before, _ = alice.rss()
        alice.reset_peak()
        _write_without_newlines(pod.log_file, 120 * MB, marker)
        # Until the marker line comes through (the backend took in all 120 MB) or the
        # backend grows past the bound, whichever is first.
        deadline = time.monotonic() + 300
        while marker not in seen and alice.rss()[1] - rss_before < 50 * MB:
            assert time.monotonic() < deadline, "the marker line never came through"
            time.sleep(0.2)
    _, peak = alice.rss()
    print(f"growth for 120 MB without a newline: {(peak - rss_before) / MB:.1f} MB")
    assert peak - rss_before < 50 * MB
    cut = [s for s in seen if s.endswith(" [line cut at 16384 bytes]")]
    assert len(cut) == 1 and len(cut[0]) == 16384 + len(" [line cut at 16384 bytes]")
    assert seen[-1] == marker


def test_a_browser_that_stops_reading_costs_a_bounded_queue(alice: Dashboard, pod: Pod) -> None:
    cookie = alice.http.cookies["scipian_session"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", alice.port))
    try:
        request = (
            f"POST {alice.stream_path(pod)} HTTP/1.1\r\nHost: 127.0.0.1:{alice.port}\r\n"
            f"Cookie: scipian_session={cookie}\r\nX-CSRF-Token: {alice.csrf}\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = sock.recv(1024)
        assert head.startswith(b"HTTP/1.1 200"), head[:100]
        rss_before, _ = alice.rss()
        alice.reset_peak()
        # 100 MB of 1 KiB lines while nobody reads them; the backend has 20 s to take them in.
        line = "GET /cart 200 " + "x" * 1010
        lines_per_write = 1024
        for _ in range(100):
            append_lines(pod.log_file, [line] * lines_per_write)
        time.sleep(20)
        _, peak = alice.rss()
        print(f"growth for 100 MB unread: {(peak - rss_before) / MB:.1f} MB")
        assert peak - rss_before < 50 * MB
    finally:
        sock.close()


def test_the_eleventh_follow_is_refused(alice: Dashboard, pod: Pod) -> None:
    """The default of --ui-follows-per-user (10), wired through `serve`."""
    opened = []
    try:
        for _ in range(10):
            r = alice.follow(pod)
            # Kept open: a dropped reader closes its connection (urllib3), and the follow.
            events = _events(r)
            opened.append((r, events))
            assert r.status_code == 200
            assert next(events)[0] == "reset"
        rid = uuid.uuid4().hex
        refused = alice.follow(pod, rid)
        assert refused.status_code == 429
        assert "10 logs already" in refused.json()["message"]
        # Refused before minting: no credential for that request.
        assert not [a for a in alice.audit() if a.get("requestId") == rid]
    finally:
        for r, _ in opened:
            r.close()
    # Closing gives the slots back.
    deadline = time.monotonic() + 30
    while True:
        r = alice.follow(pod)
        if r.status_code == 200:
            r.close()
            break
        r.close()
        assert time.monotonic() < deadline, "the closed follows never gave their slots back"
        time.sleep(0.5)


def test_the_replicas_cap_holds_across_users(stack: Stack, pod: Pod) -> None:
    d = _dashboard(stack, ["--ui-follows-per-replica=3", "--ui-follows-per-user=2"])
    try:
        carol = _sign_in(stack, d.backend, "carol")
        opened = [d.follow(pod), d.follow(pod)]
        assert [r.status_code for r in opened] == [200, 200]
        third = d.follow(pod)
        assert third.status_code == 429  # alice's own cap (2)
        third.close()
        opened.append(carol.follow(pod))
        assert opened[-1].status_code == 200
        fourth = carol.follow(pod)
        assert fourth.status_code == 503  # the replica's (3)
        assert "retry later" in fourth.json()["message"]
        for r in opened:
            r.close()
    finally:
        d.backend.stop()


def test_logout_ends_an_open_follow(stack: Stack, pod: Pod) -> None:
    d = _dashboard(stack, [])
    try:
        with d.follow(pod) as r:
            events = _events(r)
            assert next(events)[0] == "reset"
            out = d.http.post(
                d.backend.url + "/ui/logout",
                data={"csrf": d.csrf},
                headers={"Origin": d.backend.url},
                timeout=30,
            )
            assert out.status_code == 200
            append_lines(pod.log_file, ["after logout"])
            rest = list(events)  # ends: the server closes the stream
        assert ("end", "signed out") in rest
        assert ("line", "after logout") not in rest
    finally:
        d.backend.stop()


def test_a_follow_ends_with_its_session(stack: Stack, pod: Pod) -> None:
    d = _dashboard(stack, ["--ui-session-max-seconds=5"])
    try:
        with d.follow(pod) as r:
            rest = list(_events(r))
        assert rest[0] == ("reset", "")
        assert rest[-1][0] == "end" and "expired" in rest[-1][1]
    finally:
        d.backend.stop()


def test_no_get_mints_a_credential(alice: Dashboard, pod: Pod) -> None:
    """A cross-site link or <img> is a GET carrying the (SameSite=Lax) cookie: the pods and
    logs pages then show their frame only. Only the dashboard's own POST, with the CSRF
    token in a header and our Origin, mints; the audit log says which requests did."""
    base = alice.backend.url
    gets = {
        f"/ui/environments/dev/releases/{pod.ns}/{pod.name}/pods": 200,
        f"/ui/environments/dev/logs/{pod.ns}/{pod.name}?container={pod.name}": 200,
        alice.stream_path(pod): 405,
    }
    rids = []
    for path, status in gets.items():
        rid = uuid.uuid4().hex
        rids.append(rid)
        r = alice.http.get(base + path, headers={"X-Request-Id": rid}, timeout=30)
        assert r.status_code == status, path
    pods = f"{base}/ui/environments/dev/releases/{pod.ns}/{pod.name}/pods"
    forged = [
        ({}, None),  # a cross-site form: no header
        ({"X-CSRF-Token": "x" * 43}, None),  # a guessed token
        ({"X-CSRF-Token": alice.csrf}, "http://evil.example"),  # another origin
    ]
    for headers, origin in forged:
        rid = uuid.uuid4().hex
        rids.append(rid)
        extra = {"Origin": origin} if origin else {}
        r = alice.http.post(pods, headers={**headers, **extra, "X-Request-Id": rid}, timeout=30)
        assert r.status_code == 403
    # The dashboard's own request mints (the control).
    rid = uuid.uuid4().hex
    r = alice.http.post(
        pods,
        headers={"X-CSRF-Token": alice.csrf, "Origin": base, "X-Request-Id": rid},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.json() == {"pods": []}  # a `kubectl run` pod is no release's
    audit = alice.audit()
    assert [a["outcome"] for a in audit if a.get("requestId") == rid] == ["issued"]
    assert not [a for a in audit if a.get("requestId") in rids]


def test_no_swagger_or_redoc_on_the_dashboards_origin(stack: Stack) -> None:
    """FastAPI's /docs and /redoc load scripts from a CDN on the dashboard's origin, outside
    its CSP: off. The OpenAPI document itself stays."""
    base = stack.env["SCIPIAN_BACKEND_URL"]
    s = requests.Session()
    s.trust_env = False
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert s.get(base + path, timeout=30).status_code == 404, path
    doc = s.get(base + "/openapi.json", timeout=30)
    assert doc.status_code == 200 and doc.json()["info"]["title"] == "Scipian backend"

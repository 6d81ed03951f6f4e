"""Any replica serves any dashboard request (docs/decisions/dashboard-state.md), on two
backend processes of this module's own sharing the stack's mgmt, one public URL (the first's:
the provider sends every browser back there, and this module then takes the callback to
the one it chooses) and one sealing-keys Secret of the module's own.

Over plain HTTP as a browser (and a hostile client) would, through the real provider's pages:
- a sign-in started on one replica finishes on the other; the session works on both;
- a logout on one is refused by the other at the very next request; the session's Secret on
  mgmt holds no token and is gone after the logout; a log follow open on the other replica
  ends (within --ui-follow-check-seconds, 1 s here);
- a tampered, expired, foreign or missing pending-login cookie gets one clear message, and
  the same sign-in with its untouched cookie still succeeds afterwards;
- rotating the keys (the admin CLI, with the backend's own mgmt credential) keeps a session and
  a sign-in under way; a second rotation drops the first key;
- no unauthenticated step of a sign-in writes to mgmt (a replica whose mgmt takes no write
  serves them all);
- sign-ins are bounded per client address: the X-Forwarded-For one when the peer is a trusted
  proxy, the peer's own otherwise.

And the session store itself on mgmt, with the backend's own credential and a user of the
test's own: the per-user cap ends the oldest session; the sweeper deletes expired ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from scipian_backend import kube
from scipian_backend.identity.authn import Identity
from scipian_backend.ui.sessions_store import DashboardSessions, secret_name
from tests.conftest import Stack
from tests.stack import idp_login, procs
from tests.stack.backend_daemon import (
    BackendProcess,
    free_port,
    mgmt_kubeconfig,
    serve_argv,
    spawn_backend,
    ui_callback,
    wait_ready,
)
from tests.stack.idp_daemon import CLIENT_ID
from tests.stack.paths import ROOT
from tests.stack.podlogs import give_logs

pytestmark = pytest.mark.stack
REFUSED = "this sign-in expired or was not started in this browser; sign in again"
NAMESPACE = "scipian-dashboard"
TIMEOUT = 30


@dataclass
class Pair:
    a: BackendProcess
    b: BackendProcess
    keys_secret: str
    public: str  # both replicas' public URL (a's)


def _http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def _register_redirect(stack: Stack, port: int) -> None:
    r = requests.post(
        f"{stack.env['STACK_IDP_ISSUER']}/admin/ui-redirect-uris",
        params={"uri": ui_callback(port)},
        headers={"X-Admin-Secret": stack.env["STACK_IDP_ADMIN_SECRET"]},
        timeout=10,
    )
    assert r.status_code == 200


def _spawn(stack: Stack, name: str, keys: str, public_port: int, *extra: str) -> BackendProcess:
    return spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        CLIENT_ID,
        [
            f"--public-url=http://127.0.0.1:{public_port}",
            f"--ui-keys-secret={keys}",
            "--ui-key-cache-seconds=1",  # a rotation reaches every replica within a second
            "--ui-follow-check-seconds=1",  # a logout elsewhere ends a follow within a second
            *extra,
        ],
        name=name,
        port=public_port if name.endswith("-a") else 0,
    )


@pytest.fixture(scope="module")
def pair(stack: Stack) -> Iterator[Pair]:
    keys = f"t-replicas-{uuid.uuid4().hex[:8]}"
    port = free_port()
    _register_redirect(stack, port)
    a = _spawn(stack, "replica-a", keys, port)
    try:
        b = _spawn(stack, "replica-b", keys, port)
    except BaseException:
        a.stop()
        raise
    try:
        yield Pair(a, b, keys, f"http://127.0.0.1:{port}")
    finally:
        a.stop()
        b.stop()
        stack.kubectl("mgmt", "delete", "secret", "-n", NAMESPACE, keys, check=False)


def _on(url: str, base: str) -> str:
    """`url` (a callback the provider sent back) taken to the replica at `base` instead."""
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}"


def start(http: requests.Session, base: str, headers: dict[str, str] | None = None) -> str:
    """Starts a sign-in at `base`; returns the provider's authorization URL (the sealed
    pending login is in `http`'s cookies)."""
    r = http.get(f"{base}/ui/login", allow_redirects=False, timeout=TIMEOUT, headers=headers)
    assert r.status_code == 303, r.text
    assert "scipian_login" in http.cookies
    return str(r.headers["location"])


def through_provider(stack: Stack, authorization_url: str, user: str = "alice") -> str:
    """The provider's pages, as a person signs in: the callback URL they end at."""
    return idp_login.authcode_browser(authorization_url, user, stack.env["STACK_PASSWORD"])


def sign_in(stack: Stack, pair: Pair, http: requests.Session, start_on: str, end_on: str) -> None:
    back = through_provider(stack, start(http, start_on))
    done = http.get(_on(back, end_on), allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text
    assert "scipian_session" in http.cookies


def signed_in_as(http: requests.Session, base: str) -> str | None:
    r = http.get(f"{base}/ui/", allow_redirects=False, timeout=TIMEOUT)
    if r.status_code == 303:
        assert r.headers["location"].startswith("/ui/login")
        return None
    assert r.status_code == 200, r.text
    found = re.search(r"oidc:[a-z]+@example\.test", r.text)
    return found.group(0) if found else ""


def csrf_of(http: requests.Session, base: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', http.get(f"{base}/ui/", timeout=TIMEOUT).text)
    assert found is not None
    return found.group(1)


def session_secret(stack: Stack, http: requests.Session) -> dict[str, object] | None:
    name = "session-" + hashlib.sha256(http.cookies["scipian_session"].encode()).hexdigest()
    done = stack.kubectl(
        "mgmt", "get", "secret", "-n", NAMESPACE, name, "--ignore-not-found", "-o", "json"
    )
    return json.loads(done.stdout) if done.stdout.strip() else None


def refused(r: requests.Response) -> bool:
    return r.status_code == 401 and REFUSED in r.text


def rotate(keys: str) -> str:
    """`rotate-dashboard-keys` with the backend's own (least-privilege) mgmt credential."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scipian_backend",
            f"--mgmt-kubeconfig={mgmt_kubeconfig()}",
            "rotate-dashboard-keys",
            f"--secret={keys}",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"current key ([a-z0-9]+)$", done.stdout.strip())
    assert found is not None, done.stdout
    return found.group(1)


def _set_cookie(r: requests.Response, name: str) -> str:
    """A cookie's value from a response's Set-Cookie (one that a jar drops at once)."""
    found = re.search(rf"{name}=([^;]+)", r.headers.get("set-cookie", ""))
    assert found is not None
    return found.group(1)


def key_id(sealed: str) -> str:
    return sealed.split(".")[1]


def test_a_sign_in_started_on_one_replica_finishes_on_the_other(stack: Stack, pair: Pair) -> None:
    http = _http()
    url = start(http, pair.a.url)
    sealed = http.cookies["scipian_login"]
    # The pending login travels sealed: its state, nonce and PKCE verifier are not readable.
    query = parse_qs(urlsplit(url).query)
    state, nonce = query["state"][0], query["nonce"][0]
    assert state not in sealed and nonce not in sealed
    assert sealed.startswith("v1.")
    back = through_provider(stack, url)
    assert back.startswith(pair.public + "/ui/callback?")
    done = http.get(_on(back, pair.b.url), allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/ui/"
    assert signed_in_as(http, pair.b.url) == "oidc:alice@example.test"
    assert signed_in_as(http, pair.a.url) == "oidc:alice@example.test"
    # And the other way round, as carol.
    other = _http()
    back = through_provider(stack, start(other, pair.b.url), "carol")
    # Her callback in alice's client (which holds no pending login now) is refused.
    theirs = http.get(_on(back, pair.a.url), allow_redirects=False, timeout=TIMEOUT)
    assert refused(theirs)
    done = other.get(_on(back, pair.a.url), allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text
    assert signed_in_as(other, pair.a.url) == "oidc:carol@example.test"
    assert signed_in_as(other, pair.b.url) == "oidc:carol@example.test"


def test_a_logout_on_one_replica_is_seen_by_the_other_at_once(stack: Stack, pair: Pair) -> None:
    http = _http()
    sign_in(stack, pair, http, pair.a.url, pair.b.url)
    assert signed_in_as(http, pair.b.url) == "oidc:alice@example.test"
    secret = session_secret(stack, http)
    assert secret is not None
    # What mgmt holds: who, until when, the CSRF secret; no token of any kind.
    assert secret["type"] == "scipian.io/dashboard-session"
    data = secret["data"]
    assert isinstance(data, dict) and list(data) == ["session.json"]
    held = json.loads(base64.b64decode(data["session.json"]))
    assert sorted(held) == ["auth_time", "csrf", "expires", "groups", "subject", "user"]
    assert held["user"] == "oidc:alice@example.test"
    assert "eyJ" not in json.dumps(held)  # no JWT anywhere
    cookie = http.cookies["scipian_session"]
    assert cookie not in json.dumps(secret)

    r = http.post(
        f"{pair.a.url}/ui/logout",
        data={"csrf": csrf_of(http, pair.a.url)},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200 and "signed-out" in r.text
    # The other replica refuses the very next request with the old cookie.
    replay = _http()
    replay.cookies.set("scipian_session", cookie, path="/ui/")
    r = replay.get(f"{pair.b.url}/ui/", allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    r = replay.get(f"{pair.b.url}/ui/promotions/state", timeout=TIMEOUT)
    assert r.status_code == 401
    replay.cookies.set("scipian_session", cookie, path="/ui/")
    assert session_secret(stack, replay) is None


def test_a_tampered_expired_or_foreign_login_cookie_gets_one_message(
    stack: Stack, pair: Pair
) -> None:
    http = _http()
    back = through_provider(stack, start(http, pair.a.url))
    sealed = http.cookies["scipian_login"]
    callback = _on(back, pair.b.url)

    def with_cookie(value: str | None) -> requests.Response:
        headers = {"Cookie": f"scipian_login={value}"} if value is not None else {}
        return _http().get(callback, headers=headers, allow_redirects=False, timeout=TIMEOUT)

    head, body = sealed.rsplit(".", 1)
    flipped = head + "." + body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    other = _http()
    start(other, pair.a.url)
    attempts = {
        "tampered": with_cookie(flipped),
        "truncated": with_cookie(sealed[:-4]),
        "unknown key": with_cookie("v1.zzzz." + body),
        "garbage": with_cookie("x" * 300),
        "missing": with_cookie(None),
        "another sign-in's": with_cookie(other.cookies["scipian_login"]),
    }
    for why, r in attempts.items():
        assert refused(r), f"{why}: {r.status_code} {r.text[:300]}"
        assert "scipian_session" not in r.headers.get("set-cookie", ""), why
    # Nothing of the above used the code up: the untouched cookie still signs in.
    r = with_cookie(sealed)
    assert r.status_code == 303 and "scipian_session=" in r.headers["set-cookie"]
    # Replayed: the provider's code is spent (and a browser no longer has the cookie).
    r = with_cookie(sealed)
    assert r.status_code == 401 and "scipian_session=" not in r.headers.get("set-cookie", "")


def test_an_expired_login_cookie_gets_the_same_message(stack: Stack, pair: Pair) -> None:
    """A replica of the test's own whose sign-ins last 1 s, sharing the keys: the cookie it
    sealed, replayed after its expiry (a browser would have dropped it), is refused by the
    pair's replica by the expiry sealed inside it."""
    port = int(pair.public.rsplit(":", 1)[1])
    quick = _spawn(stack, "replica-quick", pair.keys_secret, port, "--ui-login-seconds=1")
    try:
        http = _http()
        r = http.get(f"{quick.url}/ui/login", allow_redirects=False, timeout=TIMEOUT)
        assert r.status_code == 303
        started = time.time()
        sealed = http.cookies.get("scipian_login") or _set_cookie(r, "scipian_login")
        back = through_provider(stack, str(r.headers["location"]))
    finally:
        quick.stop()
    time.sleep(max(0.0, started + 2.1 - time.time()))  # past the sealed expiry (whole seconds)
    r = _http().get(
        _on(back, pair.b.url),
        headers={"Cookie": f"scipian_login={sealed}"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert refused(r), r.text[:300]


@pytest.fixture
def fresh_keys(pair: Pair) -> str:
    """The pair's keys as they are now (every replica's cache refreshed by then)."""
    return key_id(_sealed_on(pair.a.url))


def _sealed_on(base: str, headers: dict[str, str] | None = None) -> str:
    http = _http()
    start(http, base, headers)
    return str(http.cookies["scipian_login"])


def _wait_sealing_with(base: str, kid: str) -> None:
    """Until the replica at `base` seals with key `kid` (its cache: --ui-key-cache-seconds=1)."""
    deadline = time.monotonic() + 15
    while key_id(_sealed_on(base)) != kid:
        assert time.monotonic() < deadline, f"{base} never sealed with key {kid}"
        time.sleep(0.2)


def test_a_key_rotation_keeps_sessions_and_sign_ins_under_way(
    stack: Stack, pair: Pair, fresh_keys: str
) -> None:
    first = fresh_keys
    signed = _http()
    sign_in(stack, pair, signed, pair.a.url, pair.b.url)
    # Two sign-ins under way, sealed with the first key.
    kept, dropped = _http(), _http()
    kept_back = through_provider(stack, start(kept, pair.a.url))
    dropped_back = through_provider(stack, start(dropped, pair.a.url))
    assert key_id(kept.cookies["scipian_login"]) == first

    second = rotate(pair.keys_secret)
    assert second != first
    _wait_sealing_with(pair.a.url, second)
    _wait_sealing_with(pair.b.url, second)
    # Nobody signed out, and a sign-in under way finishes (the previous key still opens).
    assert signed_in_as(signed, pair.a.url) == "oidc:alice@example.test"
    assert signed_in_as(signed, pair.b.url) == "oidc:alice@example.test"
    done = kept.get(_on(kept_back, pair.b.url), allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text
    assert signed_in_as(kept, pair.a.url) == "oidc:alice@example.test"

    # A second rotation drops the first key: what it sealed is refused, sessions stay.
    third = rotate(pair.keys_secret)
    _wait_sealing_with(pair.b.url, third)
    r = dropped.get(_on(dropped_back, pair.b.url), allow_redirects=False, timeout=TIMEOUT)
    assert refused(r), r.text[:300]
    assert signed_in_as(signed, pair.b.url) == "oidc:alice@example.test"
    assert signed_in_as(kept, pair.b.url) == "oidc:alice@example.test"
    keys = json.loads(
        stack.kubectl(
            "mgmt", "get", "secret", "-n", NAMESPACE, pair.keys_secret, "-o", "json"
        ).stdout
    )
    assert sorted(keys["data"]) == sorted(["current", f"key-{second}", f"key-{third}"])


def test_sign_ins_are_bounded_per_forwarded_client_address(stack: Stack, pair: Pair) -> None:
    """Two sign-ins per address: behind a trusted proxy (the peer, 127.0.0.1, listed) each
    forwarded address has its own; when the peer is not listed its X-Forwarded-For is
    ignored and every request counts for the peer."""
    port = int(pair.public.rsplit(":", 1)[1])
    small = ("--ui-login-rate-limit=2/3600s", "--ui-login-rate-limit-burst=2")
    trusted = _spawn(
        stack, "replica-proxied", pair.keys_secret, port, *small, "--forwarded-allow-ips=127.0.0.1"
    )
    untrusted = _spawn(
        stack, "replica-direct", pair.keys_secret, port, *small, "--forwarded-allow-ips=192.0.2.1"
    )
    try:

        def login(base: str, client: str) -> requests.Response:
            return _http().get(
                f"{base}/ui/login",
                headers={"X-Forwarded-For": client},
                allow_redirects=False,
                timeout=TIMEOUT,
            )

        got = [login(trusted.url, "198.51.100.7").status_code for _ in range(3)]
        assert got == [303, 303, 429]
        assert login(trusted.url, "198.51.100.8").status_code == 303  # another client
        third = login(trusted.url, "198.51.100.7")
        assert third.status_code == 429 and int(third.headers["Retry-After"]) >= 1
        assert "too many sign-ins from this address" in third.text
        # The callback counts too: the limited address cannot finish one either.
        r = _http().get(
            f"{trusted.url}/ui/callback?state=x&code=y",
            headers={"X-Forwarded-For": "198.51.100.7"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert r.status_code == 429

        got = [
            login(untrusted.url, f"198.51.100.{n}").status_code for n in (10, 11, 12)
        ]  # three "clients", one peer
        assert got == [303, 303, 429]
    finally:
        trusted.stop()
        untrusted.stop()


@pytest.fixture(scope="module")
def pod(stack: Stack) -> Iterator[tuple[str, str]]:
    """A KWOK pod of the module's own on dev (alice reads dev) with a log."""
    ns = f"t-uirep-{uuid.uuid4().hex[:6]}"
    name = "web"
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
    yield ns, name
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)
    files[name].unlink(missing_ok=True)


def test_a_logout_on_one_replica_ends_a_log_follow_on_the_other(
    stack: Stack, pair: Pair, pod: tuple[str, str]
) -> None:
    ns, name = pod
    http = _http()
    sign_in(stack, pair, http, pair.a.url, pair.a.url)
    token = csrf_of(http, pair.b.url)
    stream = http.post(
        f"{pair.b.url}/ui/environments/dev/logs/{ns}/{name}/stream?tail=5",
        headers={"X-CSRF-Token": token},
        stream=True,
        timeout=TIMEOUT,
    )
    with stream:
        assert stream.status_code == 200, stream.text
        events: list[tuple[str, str]] = []
        event = ""
        deadline = time.monotonic() + 30  # keep-alives come every few seconds
        for raw in stream.iter_lines(chunk_size=1):
            if time.monotonic() > deadline:
                break  # still following long after the logout: the assertion below says so
            line = raw.decode("utf-8", "replace")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, line[6:]))
                if (event, line[6:]) == ("line", "started"):
                    # Following on b; sign out on a.
                    r = http.post(f"{pair.a.url}/ui/logout", data={"csrf": token}, timeout=TIMEOUT)
                    assert r.status_code == 200
                if event == "end":
                    break
    assert events[0][0] == "reset" and ("line", "started") in events
    assert events[-1] == ("end", "signed out")


def _store(per_user: int = 20) -> DashboardSessions:
    """The backend's session store on the real mgmt, with the backend's own credential (its
    Role in scipian-dashboard is enough for what the sweeper and the cap do)."""
    return DashboardSessions(kube.mgmt_client(str(mgmt_kubeconfig())), per_user=per_user)


def _someone() -> Identity:
    # A user of this test's own: the cap counts per user, and the stack's people are shared.
    return Identity(f"oidc:t-cap-{uuid.uuid4().hex[:8]}@example.test", ("oidc:t",), "sub")


def test_a_user_holds_at_most_the_cap_and_the_oldest_goes(stack: Stack) -> None:
    store = _store(per_user=2)
    who = _someone()
    ids = []
    for _ in range(3):
        sid, _session = store.create(who, time.time() + 600)
        ids.append(sid)
        time.sleep(1.1)  # creationTimestamp has whole seconds: the order must be visible
    try:
        assert store.get(ids[0]) is None  # the oldest ended by the third sign-in
        assert store.get(ids[1]) is not None and store.get(ids[2]) is not None
    finally:
        for sid in ids:
            store.delete(sid)


def test_the_sweeper_deletes_expired_sessions(stack: Stack) -> None:
    store = _store()
    who = _someone()
    ends = time.time() + 1
    expired, _ = store.create(who, ends)
    live, _ = store.create(who, time.time() + 600)
    try:

        def exists(sid: str) -> bool:
            done = stack.kubectl(
                "mgmt", "get", "secret", "-n", NAMESPACE, secret_name(sid), "--ignore-not-found"
            )
            return bool(done.stdout.strip())

        time.sleep(max(0.0, ends + 1.1 - time.time()))
        assert store.get(expired) is None  # refused past its end, deleted or not
        assert exists(expired)
        store.sweep(datetime.now(timezone.utc))
        assert not exists(expired)
        assert exists(live) and store.get(live) is not None
    finally:
        store.delete(expired)
        store.delete(live)


def test_no_unauthenticated_sign_in_step_writes_to_mgmt(
    stack: Stack, pair: Pair, tmp_path: Path
) -> None:
    """A replica whose mgmt answers reads only (a proxy forwarding GETs; any write gets 501):
    sign-ins start and forged callbacks are refused as usual, so none of them writes; only
    the verified sign-in's session is a write (refused here, so the page says 503)."""
    from tests.e2e.apiserver_proxy import ApiserverProxy
    from tests.e2e.test_faults_stack import self_signed

    doc = json.loads(mgmt_kubeconfig().read_text())
    cluster = doc["clusters"][0]["cluster"]
    cert = self_signed(tmp_path)
    proxy = ApiserverProxy(
        cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), cert
    )
    doc["clusters"][0]["cluster"] = {
        "server": proxy.url,
        "certificate-authority-data": base64.b64encode(cert[0].read_bytes()).decode(),
    }
    reads_only = tmp_path / "mgmt-reads-only.json"
    reads_only.write_text(json.dumps(doc))
    reads_only.chmod(0o600)
    port = int(pair.public.rsplit(":", 1)[1])
    argv = [
        f"--mgmt-kubeconfig={reads_only}" if a.startswith("--mgmt-kubeconfig=") else a
        for a in serve_argv(
            stack.env["STACK_IDP_ISSUER"],
            CLIENT_ID,
            free_port(),
            f"--public-url=http://127.0.0.1:{port}",
            f"--ui-keys-secret={pair.keys_secret}",  # exists: start-up only reads it
            "--no-worker",
        )
    ]
    log_path = procs.log_dir() / f"backend-reads-only-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    base = "http://127.0.0.1:" + next(a for a in argv if a.startswith("--port=")).split("=")[1]
    try:
        wait_ready(base, 60, lambda: process.poll() is not None)
        for _ in range(20):
            http = _http()
            start(http, base)
            r = http.get(
                f"{base}/ui/callback?state=forged&code=x", allow_redirects=False, timeout=TIMEOUT
            )
            assert refused(r), r.text[:300]
        # The one write of a sign-in, after the id_token's checks: refused by this mgmt.
        http = _http()
        back = through_provider(stack, start(http, base))
        r = http.get(_on(back, base), allow_redirects=False, timeout=TIMEOUT)
        assert r.status_code == 503 and "scipian_session" not in http.cookies
    finally:
        process.terminate()
        process.wait(30)
        proxy.stop()

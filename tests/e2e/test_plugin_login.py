"""The plugin's logins against the real stack: both flows through the provider's own pages,
silent refresh, logout, and where secrets (never) show up.

Every test gets its own config dir (KUBECTL_SCIPIAN_CONFIG_DIR in tmp_path); the plugin runs
as a subprocess without a terminal, the way scripts and `scripts/stack login` run it. Every
test runs once per provider pair (`idp_stack`: oidc-provider, and Dex in front of LDAP);
where the two differ (Dex cannot revoke a refresh token), the test says so.
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import Stack
from tests.stack import dex_daemon, idp_login
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.dex_daemon import DexProcess
from tests.stack.idp_process import IdpProcess, start_idp
from tests.stack.login import plugin_env, plugin_login, run_plugin
from tests.stack.paths import ROOT, venv_bin

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"


@pytest.fixture
def env(idp_stack: Stack, tmp_path: Path) -> dict[str, str]:
    """The plugin's environment: the stack's backend, a config dir of this test's own."""
    values = plugin_env(idp_stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "config"))
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):  # never a real browser in tests
        values.pop(name, None)
    return values


def login_record(env: dict[str, str]) -> dict[str, Any]:
    [path] = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]).glob("cache/*/login.json")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def secrets_of(config_dir: Path) -> set[str]:
    """Every token the plugin holds: id/refresh tokens and the kubeconfigs' bearer tokens."""
    found: set[str] = set()
    for path in config_dir.glob("cache/*/login.json"):
        record = json.loads(path.read_text())
        found |= {record["idToken"], record["refreshToken"] or ""}
    for path in config_dir.glob("cache/*/kubeconfigs/*.json"):
        text = json.loads(path.read_text())["kubeconfig"]
        found |= {line.split(":", 1)[1].strip() for line in text.splitlines() if "token:" in line}
    return {s for s in found if len(s) > 16}


def assert_private_tree(config_dir: Path) -> None:
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    for path in config_dir.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_device_flow_login(idp_stack: Stack, env: dict[str, str]) -> None:
    done = plugin_login("alice", idp_stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # prompts and URLs on stderr only
    assert "/device?user_code=" in done.stderr
    assert "Logged in to" in done.stderr and "alice@example.test" in done.stderr
    record = login_record(env)
    assert record["email"] == "alice@example.test" and record["groups"] == ["team-a"]
    assert record["issuer"] == idp_stack.env["STACK_IDP_ISSUER"]
    assert record["refreshToken"]
    who = run_plugin(["whoami"], env)
    assert who.returncode == 0, who.stderr
    assert "alice@example.test" in who.stdout and "team-a" in who.stdout
    assert_private_tree(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]))
    leaked = secrets_of(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]))
    assert leaked and not any(s in done.stderr + who.stdout + who.stderr for s in leaked)


class AuthCodeLogin:
    """`kubectl scipian login --no-browser` running, with the URL it printed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(venv_bin() / "kubectl-scipian"), "login", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        self.url = ""
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.strip().startswith("http"):
                self.url = line.strip()
                break
        self._rest = threading.Thread(target=self._drain, daemon=True)
        self._rest.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        self.lines.extend(self.proc.stderr)

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout)
        self._rest.join(timeout)
        return code, out, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def authcode(env: dict[str, str]) -> Iterator[list[AuthCodeLogin]]:
    started: list[AuthCodeLogin] = []
    yield started
    for login in started:
        login.kill()


def test_authcode_flow_login(
    idp_stack: Stack, env: dict[str, str], authcode: list[AuthCodeLogin]
) -> None:
    login = AuthCodeLogin(env, "--no-browser")
    authcode.append(login)
    query = parse_qs(urlsplit(login.url).query)
    redirect = urlsplit(query["redirect_uri"][0])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and query["state"] != query["nonce"]
    assert "offline_access" in query["scope"][0].split()

    callback = idp_login.authcode_browser(login.url, "bob", idp_stack.env["STACK_PASSWORD"])
    page = requests.get(callback, timeout=10)  # the browser following the redirect
    assert page.status_code == 200 and "Login complete" in page.text
    code, out, err = login.finish()
    assert code == 0, err
    assert out == ""
    assert login_record(env)["email"] == "bob@example.test"
    # One callback only: the listener is gone once the login is done.
    with pytest.raises(requests.ConnectionError):
        requests.get(callback, timeout=5)


def test_authcode_callback_with_wrong_state_is_refused(
    idp_stack: Stack, env: dict[str, str], authcode: list[AuthCodeLogin]
) -> None:
    login = AuthCodeLogin(env, "--no-browser")
    authcode.append(login)
    callback = idp_login.authcode_browser(login.url, "alice", idp_stack.env["STACK_PASSWORD"])
    parts = urlsplit(callback)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = f"{parts.scheme}://{parts.netloc}{parts.path}?code={query['code']}&state=forged"
    assert requests.get(forged, timeout=10).status_code == 400
    code, out, err = login.finish()
    assert (code, out) == (1, "")
    assert "different state" in err
    assert not list(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]).glob("cache/*/login.json"))


def test_no_browser_falls_back_to_the_device_flow(idp_stack: Stack, env: dict[str, str]) -> None:
    """Plain `login` on a host without a display: no browser, the device flow instead."""
    proc = subprocess.Popen(
        [str(venv_bin() / "kubectl-scipian"), "login"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "confirm the code" in line:
                break
        assert lines[0] == "No browser available; using the device code flow.\n"
        url = next(x.strip() for x in lines if x.strip().startswith("http"))
        code = lines[-1].split("confirm the code ")[1].split()[0]
        idp_login.device_login_approve(url, code, "carol", idp_stack.env["STACK_PASSWORD"])
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert login_record(env)["groups"] == ["platform-admins"]


def test_login_times_out(env: dict[str, str]) -> None:
    done = run_plugin(["login", "--no-browser", "--timeout", "1"], env)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "error: login timed out after 1s"


@pytest.fixture
def short_lived(
    idp_stack: Stack, tmp_path: Path
) -> Iterator[tuple[IdpProcess | DexProcess, BackendProcess, dict[str, str]]]:
    """A provider of the pair's kind issuing 5-second id_tokens and a backend that trusts it
    (same mgmt; a Dex reads the stack's directory)."""
    idp: IdpProcess | DexProcess
    if idp_stack.env["STACK_IDP"] == "dex":
        idp = dex_daemon.start_own(idp_stack.env, id_token_ttl=5)
    else:
        idp = start_idp(tmp_path / "idp", idp_stack.env["STACK_PASSWORD"], id_token_ttl=5)
    backend = None
    try:
        backend = spawn_backend(idp.issuer, idp.client_id, name="plugin-refresh")
        env = plugin_env(
            idp_stack.env,
            KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "config"),
            SCIPIAN_BACKEND_URL=backend.url,
        )
        yield idp, backend, env
    finally:
        if backend is not None:
            backend.stop()
        idp.stop()


def wait_until_expired(env: dict[str, str]) -> None:
    expires = login_record(env)["expiresAt"]
    while time.time() <= expires + 1:
        time.sleep(0.5)


def test_refresh_after_short_id_token_lifetime_without_prompt(
    idp_stack: Stack, short_lived: tuple[IdpProcess | DexProcess, BackendProcess, dict[str, str]]
) -> None:
    idp, _, env = short_lived
    done = plugin_login("alice", idp_stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    first = login_record(env)
    wait_until_expired(env)

    listed = run_plugin(["envs"], env)  # no terminal: any prompt would fail it
    assert listed.returncode == 0, listed.stderr
    # alice's grant on dev; other environments (other tests', a bench's) may be listed too
    assert "dev" in [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert listed.stderr == ""
    second = login_record(env)
    assert second["idToken"] != first["idToken"]
    assert second["refreshToken"] != first["refreshToken"]  # rotated, and the new one kept
    assert second["expiresAt"] > first["expiresAt"]

    # Parallel invocations refresh once between them: presenting a rotated refresh token
    # twice would make the provider revoke the whole grant, and then every one would fail.
    wait_until_expired(env)
    with ThreadPoolExecutor(8) as pool:
        runs = list(pool.map(lambda _: run_plugin(["envs"], env), range(8)))
    assert [r.returncode for r in runs] == [0] * 8, [r.stderr for r in runs]
    third = login_record(env)
    assert third["refreshToken"] not in (first["refreshToken"], second["refreshToken"])
    again = idp_login.refresh_tokens(idp.issuer, idp.client_id, third["refreshToken"])
    assert again["id_token"]  # the grant is alive


def test_expired_login_with_dead_refresh_token_fails_at_once_without_terminal(
    idp_stack: Stack, short_lived: tuple[IdpProcess | DexProcess, BackendProcess, dict[str, str]]
) -> None:
    idp, _, env = short_lived
    assert plugin_login("bob", idp_stack.env["STACK_PASSWORD"], env).returncode == 0
    stolen = login_record(env)["refreshToken"]
    # Someone else uses the refresh token: the provider rotates it away from the plugin.
    # Dex keeps a token usable for its reuse window (3 s in the stack, for clients racing
    # themselves) after its last use: the thief comes after the login's window, and the
    # plugin after the thief's, as with a refresh token stolen a while ago.
    reuse = dex_daemon.REFRESH_REUSE_SECONDS + 0.5
    time.sleep(reuse)
    assert idp_login.refresh_tokens(idp.issuer, idp.client_id, stolen)["refresh_token"] != stolen
    time.sleep(reuse)
    wait_until_expired(env)
    done = run_plugin(["envs"], env)
    assert done.returncode == 1
    assert done.stderr == AUTH + "hint: run 'kubectl scipian login'\n"
    assert login_record(env)["refreshToken"] is None  # a refused one is not tried again


def test_logout(idp_stack: Stack, env: dict[str, str]) -> None:
    assert plugin_login("carol", idp_stack.env["STACK_PASSWORD"], env).returncode == 0
    for env_id in ("dev", "prod"):
        got = run_plugin([env_id, "get", "pods"], env)
        assert got.returncode == 0, got.stderr
    config = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])
    assert len(list(config.glob("cache/*/kubeconfigs/*.json"))) == 2
    refresh_token = login_record(env)["refreshToken"]

    done = run_plugin(["logout", "dev"], env)
    assert (done.returncode, done.stdout) == (0, "Removed 1 cached credential(s) for dev.\n")
    [left] = config.glob("cache/*/kubeconfigs/*.json")
    assert json.loads(left.read_text())["environment"] == "prod"
    assert login_record(env)["refreshToken"] == refresh_token  # the login stays

    done = run_plugin(["logout"], env)
    assert done.returncode == 0
    assert done.stdout == (
        f"Logged out of {env['SCIPIAN_BACKEND_URL']}; removed 1 cached credential(s).\n"
    )
    assert not list(config.glob("cache/*/login.json"))
    assert not list(config.glob("cache/*/kubeconfigs/*.json"))
    assert (config / "cache").is_dir()  # only credentials go
    issuer, client_id = idp_stack.env["STACK_IDP_ISSUER"], idp_stack.env["STACK_IDP_CLIENT_ID"]
    if idp_login.discover(issuer).get("revocation_endpoint"):
        # The refresh token was revoked at the provider, not just forgotten.
        with pytest.raises(idp_login.IdpTokenError):
            idp_login.refresh_tokens(issuer, client_id, refresh_token)
    else:
        # Dex offers no revocation (RFC 7009): the plugin can only forget the token, which
        # stays valid at the provider until it expires (docs/providers.md says so).
        assert idp_stack.env["STACK_IDP"] == "dex"
        assert idp_login.refresh_tokens(issuer, client_id, refresh_token)["id_token"]
    after = run_plugin(["dev", "get", "pods"], env)
    assert (after.returncode, after.stderr) == (1, AUTH + "hint: run 'kubectl scipian login'\n")


def test_logout_all_forgets_every_backend(
    idp_stack: Stack,
    env: dict[str, str],
    short_lived: tuple[IdpProcess | DexProcess, BackendProcess, dict[str, str]],
) -> None:
    _, other, _ = short_lived
    other_env = dict(env, SCIPIAN_BACKEND_URL=other.url)
    config = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])
    (config).mkdir(mode=0o700, exist_ok=True)
    (config / "config.json").write_text(json.dumps({"backend": env["SCIPIAN_BACKEND_URL"]}))
    os.chmod(config / "config.json", 0o600)
    assert plugin_login("alice", idp_stack.env["STACK_PASSWORD"], env).returncode == 0
    assert plugin_login("alice", idp_stack.env["STACK_PASSWORD"], other_env).returncode == 0
    assert len(list(config.glob("cache/*/login.json"))) == 2
    no_backend = {k: v for k, v in env.items() if k != "SCIPIAN_BACKEND_URL"}
    done = run_plugin(["logout", "--all"], no_backend)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Removed 2 login(s) and 0 cached credential(s) for every backend.\n"
    assert not list(config.glob("cache/*/login.json"))
    assert (config / "config.json").is_file()


def test_on_a_terminal_a_missing_login_starts_one(idp_stack: Stack, env: dict[str, str]) -> None:
    """stdin is a terminal (a pty): `dev get pods` logs in first (device flow: no display)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [str(venv_bin() / "kubectl-scipian"), "dev", "get", "pods", "-n", "default"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    os.close(terminal)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "confirm the code" in line:
                break
        assert lines[0] == "Your Scipian login is missing; logging in.\n"
        url = next(x.strip() for x in lines if x.strip().startswith("http"))
        code = lines[-1].split("confirm the code ")[1].split()[0]
        idp_login.device_login_approve(url, code, "alice", idp_stack.env["STACK_PASSWORD"])
        out = proc.stdout.read()
        rest = proc.stderr.read()
        assert proc.wait(60) == 0, rest
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.startswith("NAME") or rest.endswith("No resources found in default namespace.\n")
    assert login_record(env)["email"] == "alice@example.test"


BROWSER = """#!{python}
# A stand-in browser for $BROWSER: detaches like a real one, then signs in at the
# provider's pages and follows the redirect back to the plugin's loopback listener.
import os, subprocess, sys
if len(sys.argv) == 2:
    with open(os.environ["TEST_BROWSER_LOG"], "a") as log:
        log.write("opened\\n")
    subprocess.Popen([sys.executable, __file__, sys.argv[1], "worker"], start_new_session=True)
    sys.exit(0)
sys.path.insert(0, {root!r})
import requests
from tests.stack.idp_login import authcode_browser
redirect = authcode_browser(sys.argv[1], os.environ["TEST_BROWSER_USER"],
                            os.environ["TEST_BROWSER_PASSWORD"])
requests.get(redirect, timeout=10)
"""


def test_browser_login_opens_one_window_and_prints_the_url(
    idp_stack: Stack, env: dict[str, str], tmp_path: Path
) -> None:
    browser = tmp_path / "browser"
    browser.write_text(BROWSER.format(python=sys.executable, root=str(ROOT)))
    browser.chmod(0o700)
    opened = tmp_path / "opened.log"
    env = dict(
        env,
        BROWSER=str(browser),
        TEST_BROWSER_LOG=str(opened),
        TEST_BROWSER_USER="alice",
        TEST_BROWSER_PASSWORD=idp_stack.env["STACK_PASSWORD"],
    )
    done = run_plugin(["login"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("Open this URL in a browser to log in:\n\n    http")
    assert "code_challenge_method=S256" in done.stderr
    assert opened.read_text() == "opened\n"
    assert login_record(env)["email"] == "alice@example.test"


def test_login_as_someone_else_forgets_the_previous_users_credentials(
    idp_stack: Stack, env: dict[str, str]
) -> None:
    password = idp_stack.env["STACK_PASSWORD"]
    config = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])
    assert plugin_login("carol", password, env).returncode == 0
    assert run_plugin(["dev", "get", "pods"], env).returncode == 0
    assert plugin_login("carol", password, env).returncode == 0  # same person: kept
    assert len(list(config.glob("cache/*/kubeconfigs/*.json"))) == 1
    assert plugin_login("bob", password, env).returncode == 0
    assert list(config.glob("cache/*/kubeconfigs/*.json")) == []
    got = run_plugin(["dev", "get", "pods"], env)
    assert (got.returncode, got.stderr) == (1, AUTH)  # bob's own rights now

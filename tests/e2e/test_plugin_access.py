"""`kubectl scipian ENV get ...` against the real stack: who gets what, the RFC's exact error
words, the kubeconfig cache under parallel use, a stopped backend, a revoked token, and that
no token ever reaches the output.

Users log in through the plugin's real device flow (`tests.stack.login.plugin_login`), each
into a config dir of the test's own. The tests on `users` run once per provider pair
(`idp_stack`: oidc-provider and its backend, Dex with groups from LDAP and its backend, on
the same clusters and grants); `ACCESS` is the table both must answer alike. Tests that count
issuances or stop the backend start a backend process of their own (`spawn_backend`) against
the stack's mgmt cluster and issuer.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml

from tests import helpers
from tests.conftest import Stack
from tests.helpers import pod_with_logs
from tests.stack.backend_daemon import BackendProcess, admin_cli, spawn_backend
from tests.stack.login import plugin_env, plugin_login, run_plugin

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"
ENV = "Invalid environment referenced.\n"
HINT = "hint: run 'kubectl scipian login'\n"


def request_hint(env_id: str, level: str) -> str:
    """The line after the RFC's where the user may ask for the access (change.md §9, §13)."""
    return (
        f"hint: ask for access: kubectl scipian {env_id} request {level} --for 1h --reason TEXT\n"
    )


def make_env(stack: Stack, config_dir: Path, backend_url: str | None = None) -> dict[str, str]:
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(config_dir))
    if backend_url:
        env["SCIPIAN_BACKEND_URL"] = backend_url
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        env.pop(name, None)
    return env


def login(stack: Stack, user: str, env: dict[str, str]) -> dict[str, str]:
    done = plugin_login(user, stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture(scope="module")
def users(idp_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """alice, bob, carol and mallory, each logged in at the backend of one provider pair."""
    return {
        user: login(idp_stack, user, make_env(idp_stack, tmp_path_factory.mktemp(user) / "config"))
        for user in ("alice", "bob", "carol", "mallory")
    }


# Who may read which environment: the answer of `ENV get namespaces default -o name`, the same
# from both providers (their groups come from different places: oidc-provider's accounts,
# Dex's LDAP connector). "read" = namespace/default, "AUTH" = the RFC's line, "ASK" = the
# RFC's line and the hint to ask for read access (bob may on staging, change.md §13).
ACCESS = """
user      dev    staging  prod
alice     read   AUTH     AUTH
bob       AUTH   ASK      read
carol     read   read     read
mallory   AUTH   AUTH     AUTH
"""


def access_table(text: str) -> dict[tuple[str, str], str]:
    header, *rows = (line.split() for line in text.strip().splitlines())
    return {
        (row[0], env_id): cell
        for row in rows
        for env_id, cell in zip(header[1:], row[1:], strict=True)
    }


def test_access_matrix_is_the_same_for_every_provider(
    idp_stack: Stack, users: dict[str, dict[str, str]]
) -> None:
    expected = access_table(ACCESS)
    got = {}
    for user, env_id in expected:
        done = run_plugin([env_id, "get", "namespaces", "default", "-o", "name"], users[user])
        outcome = {
            (0, "namespace/default\n", ""): "read",
            (1, "", AUTH): "AUTH",
            (1, "", AUTH + request_hint(env_id, "read")): "ASK",
        }.get((done.returncode, done.stdout, done.stderr), f"{done.returncode} {done.stderr!r}")
        got[user, env_id] = outcome
    assert got == expected, idp_stack.env["STACK_IDP"]


@pytest.fixture
def own_backend(stack: Stack) -> Iterator[BackendProcess]:
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="plugin"
    )
    try:
        yield backend
    finally:
        backend.stop()


def kubeconfig_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]).glob("cache/*/kubeconfigs/*.json"))


@pytest.fixture(scope="module")
def dev_pod(stack: Stack) -> Iterator[tuple[str, str]]:
    """A running pod of this module's own in dev, with two log lines."""
    with pod_with_logs(stack, "t-plugin", ["hello from web-0", "second"]) as where:
        yield where


def test_alice_dev_get_pods_and_logs(
    users: dict[str, dict[str, str]], dev_pod: tuple[str, str]
) -> None:
    ns, pod = dev_pod
    got = run_plugin(["dev", "get", "pods", "-n", ns], users["alice"])
    assert got.returncode == 0, got.stderr
    assert got.stderr == ""
    lines = got.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[:3] for line in lines[1:]] == [[pod, "1/1", "Running"]]
    everywhere = run_plugin(["dev", "get", "pods", "-A"], users["alice"])
    assert everywhere.returncode == 0 and f"{ns} " in everywhere.stdout
    logs = run_plugin(["dev", "logs", pod, "-n", ns], users["alice"])
    assert (logs.returncode, logs.stdout) == (0, "hello from web-0\nsecond\n"), logs.stderr


@pytest.mark.parametrize(
    ("user", "env_id", "expected"),
    [
        ("alice", "prod", AUTH),
        ("bob", "dev", AUTH),
        ("bob", "staging", AUTH + request_hint("staging", "read")),  # he may ask for read
        ("bob", "nosuch", AUTH),  # his request grant names staging only
        ("alice", "nosuch", AUTH),  # not allowed: whether it exists is not disclosed
        ("carol", "nosuch", ENV),
        ("mallory", "dev", AUTH),
        ("mallory", "prod", AUTH),
        ("mallory", "nosuch", AUTH),
        ("carol", "Not-An-Id", ENV),
    ],
)
def test_scipian_errors_are_exact(
    users: dict[str, dict[str, str]], user: str, env_id: str, expected: str
) -> None:
    got = run_plugin([env_id, "get", "pods"], users[user])
    assert (got.returncode, got.stdout, got.stderr) == (1, "", expected)


@pytest.mark.parametrize(
    ("user", "env_id", "expected"),
    [
        ("bob", "prod", AUTH + request_hint("prod", "deploy")),  # he may ask for deploy
        ("bob", "staging", AUTH),
        ("bob", "dev", AUTH),
        ("alice", "prod", AUTH),
        ("mallory", "prod", AUTH),
        ("mallory", "dev", AUTH),
        ("mallory", "nosuch", AUTH),
    ],
)
def test_deploy_refusals_hint_only_where_one_may_ask(
    users: dict[str, dict[str, str]], user: str, env_id: str, expected: str
) -> None:
    """RBAC refuses before any step-up: the hint needs no fresh login."""
    args = [env_id, "kubeconfig", "--level", "deploy", "--reason", "t-access hint"]
    got = run_plugin(args, users[user])
    assert (got.returncode, got.stdout, got.stderr) == (1, "", expected)


def test_carol_reaches_every_environment(stack: Stack, users: dict[str, dict[str, str]]) -> None:
    registered = sorted(helpers.registered_environments(stack))
    assert {"dev", "staging", "prod"} <= set(registered)
    for env_id in registered:
        got = run_plugin([env_id, "get", "namespaces", "default", "-o", "name"], users["carol"])
        assert (got.returncode, got.stdout) == (0, "namespace/default\n"), got.stderr
    listed = run_plugin(["envs"], users["carol"])
    ids = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    # `registered` was read before the runs: what stayed registered is listed, and nothing
    # else but what came or went meanwhile (another session on the stack).
    now = helpers.registered_environments(stack)
    assert ids == sorted(ids)
    assert set(registered) & set(now) <= set(ids) <= set(registered) | set(now)


def test_envs_lists_only_allowed_with_cached_expiry(users: dict[str, dict[str, str]]) -> None:
    env = users["bob"]
    before = run_plugin(["envs"], env)
    assert before.returncode == 0, before.stderr
    lines = before.stdout.splitlines()
    assert lines[0].split() == [
        "ENVIRONMENT",
        "DESCRIPTION",
        "TTL",
        "CACHED",
        "CREDENTIAL",
        "DEPLOY",
        "CREDENTIAL",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["prod"]
    assert lines[1].endswith("none")
    assert run_plugin(["prod", "get", "pods"], env).returncode == 0
    after = run_plugin(["envs"], env).stdout.splitlines()
    assert "valid until 20" in after[1] and after[1].endswith("left   none")
    assert run_plugin(["envs"], users["mallory"]).stdout.splitlines()[1:] == []


def test_not_logged_in_without_terminal_fails_at_once(stack: Stack, tmp_path: Path) -> None:
    env = make_env(stack, tmp_path / "config")
    for args in (["dev", "get", "pods"], ["envs"], ["nosuch", "logs", "x"]):
        got = run_plugin(args, env, timeout=30)
        assert (got.returncode, got.stdout, got.stderr) == (1, "", AUTH + HINT)


def issuances(url: str, env_id: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    prefix = f'scipian_issuances_total{{environment="{env_id}",level="read"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def test_twenty_parallel_invocations_fetch_once(
    stack: Stack, own_backend: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "carol", make_env(stack, tmp_path / "config", own_backend.url))
    assert kubeconfig_files(env) == []
    before = issuances(own_backend.url, "dev")
    with ThreadPoolExecutor(20) as pool:
        runs = list(pool.map(lambda _: run_plugin(["dev", "get", "pods", "-A"], env), range(20)))
    failures = [r.stderr for r in runs if r.returncode != 0]
    assert failures == []
    assert all(r.stdout.startswith("NAMESPACE") or r.stderr == "No resources found\n" for r in runs)
    assert issuances(own_backend.url, "dev") - before == 1
    [cached] = kubeconfig_files(env)
    assert json.loads(cached.read_text())["environment"] == "dev"
    assert not list(cached.parent.glob("*.tmp"))


def test_backend_stopped(stack: Stack, own_backend: BackendProcess, tmp_path: Path) -> None:
    env = login(stack, "alice", make_env(stack, tmp_path / "config", own_backend.url))
    assert run_plugin(["dev", "get", "pods"], env).returncode == 0
    own_backend.stop()

    cached = run_plugin(["dev", "get", "pods", "-A"], env)
    assert cached.returncode == 0, cached.stderr
    assert cached.stderr == ""

    # Close to expiry (inside the refetch margin): the refetch fails, the cached one serves.
    [path] = kubeconfig_files(env)
    set_times(path, fetched=time.time() - 870, expires=time.time() + 30)
    near = run_plugin(["dev", "get", "pods"], env)
    assert near.returncode == 0
    assert near.stderr.startswith(
        f"kubectl-scipian: warning: cannot reach the Scipian backend at {own_backend.url}"
    )

    set_times(path, fetched=time.time() - 901, expires=time.time() - 1)
    expired = run_plugin(["dev", "get", "pods"], env)
    assert (expired.returncode, expired.stdout) == (1, "")
    assert expired.stderr == (
        f"error: cannot reach the Scipian backend at {own_backend.url} "
        "(connection refused or host unknown)\n"
    )


def set_times(path: Path, *, fetched: float, expires: float) -> None:
    """Moves the record's clock, as time passing would (the token itself is unchanged)."""
    record = json.loads(path.read_text())
    record["fetchedAt"], record["expiresAt"] = fetched, expires
    path.write_text(json.dumps(record))


def test_cluster_401_refetches_once(users: dict[str, dict[str, str]], tmp_path: Path) -> None:
    env = users["bob"]
    assert run_plugin(["prod", "get", "pods"], env).returncode == 0
    [path] = kubeconfig_files(env)
    old = Kubeconfig(json.loads(path.read_text())["kubeconfig"])
    # Revocation deletes bob's session Secrets: the cached token dies long before its expiry.
    revoked = admin_cli("revoke", "--env=prod", "--user=bob@example.test")
    assert revoked.returncode == 0, revoked.stderr
    # The apiserver caches a successful token check for a few seconds; wait that out.
    deadline = time.monotonic() + 60
    while cluster_status(old, tmp_path) != 401:
        assert time.monotonic() < deadline, "the revoked token still works"
        time.sleep(1)
    got = run_plugin(["prod", "get", "namespaces"], env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("NAME") and "default" in got.stdout
    new = Kubeconfig(json.loads(path.read_text())["kubeconfig"])
    assert new.text != old.text and cluster_status(new, tmp_path) == 200


class Kubeconfig:
    """Holds a kubeconfig without showing it in assertion messages (it carries a token)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return "Kubeconfig(...)"


def cluster_status(kubeconfig: Kubeconfig, tmp_path: Path) -> int:
    """What the cluster answers to the kubeconfig's token (GET /api)."""
    return helpers.cluster_status(yaml.safe_load(kubeconfig.text), tmp_path)


def test_corrupt_cache_file_is_discarded_and_refetched(users: dict[str, dict[str, str]]) -> None:
    env = users["carol"]
    assert run_plugin(["dev", "get", "pods"], env).returncode == 0
    [dev] = [p for p in kubeconfig_files(env) if json.loads(p.read_text())["environment"] == "dev"]
    dev.write_text('{"environment": "dev", "kubecon')
    got = run_plugin(["dev", "get", "pods"], env)
    assert got.returncode == 0
    assert "kubectl-scipian: warning: discarding unreadable cache file" in got.stderr
    assert "Traceback" not in got.stderr
    assert json.loads(dev.read_text())["kubeconfig"]


def secrets_of(config_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in config_dir.glob("cache/*/login.json"):
        record = json.loads(path.read_text())
        found |= {record["idToken"], record["refreshToken"] or ""}
    for path in config_dir.glob("cache/*/kubeconfigs/*.json"):
        kubeconfig = yaml.safe_load(json.loads(path.read_text())["kubeconfig"])  # JSON or YAML
        found |= {u["user"]["token"] for u in kubeconfig["users"]}
    return {s for s in found if len(s) > 16}


def test_no_token_in_any_output_even_verbose(stack: Stack, tmp_path: Path) -> None:
    env = make_env(stack, tmp_path / "config")
    outputs = [plugin_login("carol", stack.env["STACK_PASSWORD"], env, extra_args=("-v",))]
    for args in (
        ["-v", "envs"],
        ["-v", "dev", "get", "pods", "-A"],
        ["dev", "get", "pods", "-v"],
        ["-v", "whoami"],
        ["-v", "nosuch", "get", "pods"],
        ["-v", "logout", "dev"],
        ["-v", "dev", "describe", "namespace", "default"],
    ):
        outputs.append(run_plugin(args, env))
    assert outputs[1].returncode == 0 and "debug: GET" in outputs[1].stderr
    tokens = secrets_of(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]))
    assert len(tokens) >= 3  # id_token, refresh_token, the dev kubeconfig's token
    text = "".join(o.stdout + o.stderr for o in outputs)
    assert not [t for t in tokens if t in text]
    assert "Bearer" not in text and "Authorization" not in text


def test_every_cache_file_is_private(users: dict[str, dict[str, str]]) -> None:
    for env in users.values():
        run_plugin(["dev", "get", "pods"], env)
        config = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])
        assert stat.S_IMODE(config.stat().st_mode) == 0o700
        for path in config.rglob("*"):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_envs_does_not_import_kubernetes(users: dict[str, dict[str, str]]) -> None:
    probe = (
        "import sys\n"
        "from kubectl_scipian.cli import run\n"
        "code = run(['envs'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')\n"
        "print('EXIT', code, 'HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=users["alice"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "dev" in done.stdout
    assert "EXIT 0 HEAVY []" in done.stdout, done.stderr


def test_env_named_like_a_command(users: dict[str, dict[str, str]]) -> None:
    got = run_plugin(["--env", "login", "get", "pods"], users["carol"])
    assert (got.returncode, got.stderr) == (1, ENV)  # reached the backend as an env id

"""The deploy level against the real stack: real logins at the provider's pages, the real
backend over HTTP, the real kubectl on the dev cluster.

Environments of the stack (backend_daemon.DEPLOY_ARGS): dev and staging deploy
`scipian-deployer` in `shop`; prod has a promotion gate, so it issues no deploy credential
yet. This module registers two of its own on the dev cluster (removed at its end):
`t-stepup` (deploy in namespace `t-stepup`, maxAuthAgeSeconds 10, so a login goes stale
within the test) and `t-nodeploy` (no deploy level), both granted to team-a, plus a
Deployment of its own in `shop` to patch.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.helpers import backend_log_lines, plugin_kubectl, shop_deployment, wait_for
from tests.prometheus_text import sample
from tests.stack import idp_login
from tests.stack.backend_daemon import (
    BackendProcess,
    StaticIssuer,
    admin_cli,
    spawn_backend,
)
from tests.stack.login import DevicePrompt, plugin_env, plugin_login, run_approving, run_plugin
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"
ENV = "Invalid environment referenced.\n"
STEP_UP_HINT = (
    "hint: deploy credentials need a login no older than 10s: "
    "run 'kubectl scipian login', then this command again\n"
)
REQUEST_HINT = "hint: ask for access: kubectl scipian {env} request deploy --for 1h --reason TEXT\n"
STEP_UP_ENV = "t-stepup"
NO_DEPLOY_ENV = "t-nodeploy"
MAX_AGE = 10
EXEC_INTERACTIVE = json.dumps(
    {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": True},
    }
)


def make_env(stack: Stack, config_dir: Path, backend_url: str | None = None) -> dict[str, str]:
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(config_dir))
    if backend_url:
        env["SCIPIAN_BACKEND_URL"] = backend_url
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "SCIPIAN_REASON"):
        env.pop(name, None)
    return env


def login(
    stack: Stack, user: str, env: dict[str, str], browser: requests.Session | None = None
) -> dict[str, str]:
    done = plugin_login(user, stack.env["STACK_PASSWORD"], env, session=browser)
    assert done.returncode == 0, done.stderr
    return env


def grants(envs: list[str]) -> dict[str, Any]:
    role = "t-deploy-grants"
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role},
                "rules": [
                    {
                        "apiGroups": ["scipian.io"],
                        "resources": ["environments/kubeconfig"],
                        "verbs": ["get"],
                        "resourceNames": envs,
                    },
                    {
                        "apiGroups": ["scipian.io"],
                        "resources": ["environments/deploy"],
                        "verbs": ["create"],
                        "resourceNames": envs,
                    },
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "oidc:team-a",
                    }
                ],
            },
        ],
    }


@pytest.fixture(scope="module")
def test_envs(stack: Stack) -> Iterator[None]:
    dev_admin = str(stack.kubeconfig("dev"))
    for args in (
        [
            f"--name={STEP_UP_ENV}",
            f"--deploy-namespace={STEP_UP_ENV}",
            f"--max-auth-age={MAX_AGE}",
        ],
        [f"--name={NO_DEPLOY_ENV}"],
    ):
        out = admin_cli("register", f"--kubeconfig={dev_admin}", "--description=test", *args)
        assert out.returncode == 0, out.stderr
    manifest = json.dumps(grants([STEP_UP_ENV, NO_DEPLOY_ENV]))
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        for name in (STEP_UP_ENV, NO_DEPLOY_ENV):
            stack.kubectl("mgmt", "delete", "environment", name, "--wait=false", check=False)
        stack.kubectl("dev", "delete", "namespace", STEP_UP_ENV, "--wait=false", check=False)


@pytest.fixture(scope="module", name="shop_deployment")
def module_deployment(stack: Stack) -> Iterator[str]:
    """A Deployment of this module's own in `shop` on dev (the stack's deploy namespace)."""
    with shop_deployment(stack, "dev", "t-deploy-web") as name:
        yield name


@pytest.fixture(scope="module")
def users(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return {
        user: login(stack, user, make_env(stack, tmp_path_factory.mktemp(user) / "config"))
        for user in ("alice", "carol", "mallory")
    }


def kubectl(stack: Stack, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real kubectl; an exec kubeconfig finds kubectl-scipian on PATH (stdin: none)."""
    return plugin_kubectl(stack, kubeconfig, *args)


def deploy_kubeconfig(
    stack: Stack, env: dict[str, str], env_id: str, reason: str, out: Path
) -> subprocess.CompletedProcess[str]:
    # Approves a device login if one is asked for (a login older than 300 s on dev).
    return run_approving(
        [env_id, "kubeconfig", "--level", "deploy", "--reason", reason, "-o", str(out)],
        "alice",
        stack.env["STACK_PASSWORD"],
        env,
    )


def test_alice_deploys_in_shop_only(
    stack: Stack, users: dict[str, dict[str, str]], shop_deployment: str, tmp_path: Path
) -> None:
    env = users["alice"]
    deploy = tmp_path / "deploy.kubeconfig"
    reason = f"t-deploy scale {time.time_ns()}"
    made = deploy_kubeconfig(stack, env, "dev", reason, deploy)
    assert made.returncode == 0, made.stderr
    patch = ["-n", "shop", "patch", "deployment", shop_deployment, "--type=merge"]
    scaled = kubectl(stack, deploy, *patch, "-p", '{"spec":{"replicas":2}}')
    assert scaled.returncode == 0, scaled.stderr
    got = stack.kubectl("dev", "get", "deploy", "-n", "shop", shop_deployment, "-o", "json")
    assert json.loads(got.stdout)["spec"]["replicas"] == 2
    other_ns = kubectl(stack, deploy, "-n", "default", "create", "configmap", "t-deploy-x")
    assert other_ns.returncode == 1 and "forbidden" in other_ns.stderr.lower()
    cluster_scoped = kubectl(stack, deploy, "create", "namespace", "t-deploy-x")
    assert cluster_scoped.returncode == 1 and "forbidden" in cluster_scoped.stderr.lower()
    # Her read credential (its own exec kubeconfig) still cannot change anything.
    read = tmp_path / "read.kubeconfig"
    assert run_plugin(["dev", "kubeconfig", "-o", str(read)], env).returncode == 0
    refused = kubectl(stack, read, *patch, "-p", '{"spec":{"replicas":3}}')
    assert refused.returncode == 1 and "forbidden" in refused.stderr.lower()
    # The deploy entries are ENV-deploy: they never replace the read ones.
    doc = yaml.safe_load(deploy.read_text())
    assert doc["current-context"] == "dev-deploy"
    assert [c["name"] for c in doc["clusters"]] == ["scipian-dev-deploy"]
    # Audited with level, justification and the login's time.
    lines = backend_log_lines(stack, lambda x: x.get("justification") == reason, 1)
    assert [(x["level"], x["outcome"]) for x in lines] == [("deploy", "issued")]
    assert lines[0]["justification"] == reason and lines[0]["authTime"]


@pytest.mark.parametrize(
    ("user", "env_id", "expected"),
    [
        ("alice", "prod", AUTH),  # RBAC says no
        ("alice", "staging", AUTH),
        # RBAC says yes, but prod has a promotion gate; platform-admins may ask for deploy
        # everywhere (change.md §13), so the hint follows
        ("carol", "prod", AUTH + REQUEST_HINT.format(env="prod")),
        ("mallory", "dev", AUTH),
        ("mallory", "staging", AUTH),
        ("mallory", "prod", AUTH),
        ("mallory", "nosuch", AUTH),
        # registered without a deploy level; the hint is RBAC's alone (§9)
        ("carol", NO_DEPLOY_ENV, AUTH + REQUEST_HINT.format(env=NO_DEPLOY_ENV)),
        ("alice", NO_DEPLOY_ENV, AUTH),
        ("carol", "nosuch", ENV),
    ],
)
def test_deploy_denials_are_the_rfc_words(
    users: dict[str, dict[str, str]], test_envs: None, user: str, env_id: str, expected: str
) -> None:
    args = [env_id, "credential", "--level", "deploy", "--reason", "t-deploy denial"]
    got = run_plugin(args, users[user])
    assert (got.returncode, got.stdout, got.stderr) == (1, "", expected)


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        ([], {}, "error: a deploy credential needs --reason TEXT (or SCIPIAN_REASON)"),
        (["--reason", "  "], {}, "error: a deploy credential needs --reason TEXT"),
        (["--reason", "x" * 513], {}, "error: --reason is longer than 512 characters"),
        (["--reason", "a\x1bb"], {}, "error: --reason must be printable text on one line"),
        ([], {"SCIPIAN_REASON": "a\nb"}, "error: --reason must be printable text on one line"),
    ],
)
def test_a_bad_reason_is_one_line_exit_2(
    users: dict[str, dict[str, str]], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    env = {**users["alice"], **extra_env}
    got = run_plugin(["dev", "credential", "--level", "deploy", *args], env)
    assert got.returncode == 2 and got.stdout == ""
    assert len(got.stderr.splitlines()) == 1 and got.stderr.startswith(message)


def test_reason_from_the_environment(users: dict[str, dict[str, str]]) -> None:
    env = {**users["alice"], "SCIPIAN_REASON": "t-deploy from env"}
    got = run_plugin(["dev", "credential", "--level", "deploy"], env)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["status"]["token"]


def test_stale_login_steps_up_once_then_works(
    stack: Stack, test_envs: None, tmp_path: Path
) -> None:
    browser = idp_login.browser()
    env = login(stack, "alice", make_env(stack, tmp_path / "config"), browser)
    time.sleep(MAX_AGE + 1)  # the login is now older than t-stepup allows
    seen: list[str] = []
    args = [STEP_UP_ENV, "credential", "--level", "deploy", "--reason", "t-deploy step-up"]
    got = run_approving(
        args,
        "alice",
        stack.env["STACK_PASSWORD"],
        {**env, "KUBERNETES_EXEC_INFO": EXEC_INTERACTIVE},
        session=browser,
        seen=seen,
    )
    assert got.returncode == 0, got.stderr
    assert "no older than 10s; logging in again" in got.stderr
    assert seen.count("login") == 1  # one fresh sign-in at the provider's pages
    assert json.loads(got.stdout)["status"]["token"]
    # The same reason again: the cached deploy credential, no login.
    again = run_plugin(args, env)
    assert again.returncode == 0 and again.stderr == ""


@pytest.fixture(scope="module")
def stale_alice(
    stack: Stack, test_envs: None, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """alice, logged in longer ago than t-stepup allows (shared: its users never log in)."""
    env = login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("stale") / "config"))
    time.sleep(MAX_AGE + 1)
    return env


def test_stale_login_without_terminal_says_so(stale_alice: dict[str, str]) -> None:
    env = stale_alice
    args = [STEP_UP_ENV, "credential", "--level", "deploy", "--reason", "t-deploy no tty"]
    got = run_plugin(args, env)
    assert (got.returncode, got.stdout, got.stderr) == (1, "", AUTH + STEP_UP_HINT)
    made = run_plugin([STEP_UP_ENV, "kubeconfig", "--level", "deploy", "--reason", "x"], env)
    assert (made.returncode, made.stderr) == (1, AUTH + STEP_UP_HINT)


# --- a hostile client over HTTP ------------------------------------------------------------


def cached_id_token(env: dict[str, str]) -> str:
    path = next(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]).glob("cache/*/login.json"))
    return str(json.loads(path.read_text())["idToken"])


def post(url: str, env_id: str, token: str, body: object) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/environments/{env_id}/kubeconfig",
        headers={"Authorization": f"Bearer {token}"},
        json=body,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"level": "deploy"}, "a deploy credential needs a justification (--reason)"),
        ({"level": "deploy", "justification": ""}, "a deploy credential needs a justification"),
        ({"level": "deploy", "justification": 7}, "justification must be a string"),
        (
            {"level": "deploy", "justification": "x" * 513},
            "justification is longer than 512 characters",
        ),
        ({"level": "deploy", "justification": "a\u0000b"}, "justification must be printable"),
        ({"level": "deploy", "justification": "a\nb"}, "justification must be printable"),
        ({"level": "read", "justification": "why"}, "justification is only for level deploy"),
        ({"level": "admin"}, 'level must be "read" or "deploy"'),
        ({"levle": "deploy"}, "unknown field(s) in the request body: levle"),
    ],
)
def test_bad_deploy_bodies_are_refused_clearly(
    stack: Stack, users: dict[str, dict[str, str]], body: object, message: str
) -> None:
    r = post(stack.env["SCIPIAN_BACKEND_URL"], "dev", cached_id_token(users["alice"]), body)
    assert r.status_code == 400
    assert r.json()["reason"] == "BadRequest" and r.json()["message"].startswith(message)


def test_replayed_older_id_token_is_challenged(stack: Stack, stale_alice: dict[str, str]) -> None:
    token = cached_id_token(stale_alice)  # still unexpired, but its login is too old now
    url = stack.env["SCIPIAN_BACKEND_URL"]
    r = post(url, STEP_UP_ENV, token, {"level": "deploy", "justification": "t-deploy replay"})
    assert r.status_code == 401
    assert r.json()["reason"] == "InsufficientUserAuthentication"
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert challenge.endswith(f", max_age={MAX_AGE}")
    # The same token still gets a read credential: step-up is the deploy level's only.
    assert post(url, STEP_UP_ENV, token, {}).status_code == 200
    # Not allowed comes first: no challenge (and no existence hint) where she may not deploy.
    forbidden = post(url, "nosuch", token, {"level": "deploy", "justification": "x"})
    assert forbidden.status_code == 403


@pytest.fixture(scope="module")
def static_backend(stack: Stack) -> Iterator[tuple[StaticIssuer, BackendProcess]]:
    """A backend of the test's own trusting a test-held key, to sign id_tokens the stack's
    provider never issues (every one of its id_tokens carries auth_time)."""
    issuer = StaticIssuer()
    backend = spawn_backend(issuer.issuer, "kubectl-scipian", name="deploy-static")
    try:
        yield issuer, backend
    finally:
        backend.stop()
        issuer.stop()


def test_id_token_without_auth_time_never_steps_up(
    static_backend: tuple[StaticIssuer, BackendProcess],
) -> None:
    issuer, backend = static_backend
    claims = issuer.claims("alice@example.test", ["team-a"], "kubectl-scipian")
    body = {"level": "deploy", "justification": "t-deploy no auth_time"}
    r = post(backend.url, "dev", issuer.sign(claims), body)
    assert r.status_code == 401 and r.json()["reason"] == "InsufficientUserAuthentication"
    assert "no auth_time" in r.json()["message"]
    # The same claims with a fresh auth_time pass: auth_time is all that differed.
    fresh = post(backend.url, "dev", issuer.sign({**claims, "auth_time": int(time.time())}), body)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["level"] == "deploy"
    future = {**claims, "auth_time": int(time.time()) + 3600}
    assert post(backend.url, "dev", issuer.sign(future), body).status_code == 401


def test_forged_id_token_is_unauthorized(
    stack: Stack, static_backend: tuple[StaticIssuer, BackendProcess]
) -> None:
    issuer, _ = static_backend
    claims = issuer.claims("alice@example.test", ["team-a"], "kubectl-scipian")
    forged = issuer.sign({**claims, "iss": stack.env["STACK_IDP_ISSUER"], "auth_time": 1})
    body = {"level": "deploy", "justification": "t-deploy forged"}
    r = post(stack.env["SCIPIAN_BACKEND_URL"], "dev", forged, body)
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"


# --- revocation, logout ------------------------------------------------------------------


def test_revoke_kills_a_deploy_token_and_logout_removes_it(
    stack: Stack, shop_deployment: str, tmp_path: Path
) -> None:
    env = login(stack, "alice", make_env(stack, tmp_path / "config"))
    url = stack.env["SCIPIAN_BACKEND_URL"]
    body = {"level": "deploy", "justification": "t-deploy revoke"}
    issued = post(url, "dev", cached_id_token(env), body)
    assert issued.status_code == 200, issued.text
    static = tmp_path / "static.kubeconfig"  # holds the token: never printed
    static.write_text(issued.json()["kubeconfig"])
    get = ["-n", "shop", "get", "deployment", shop_deployment, "-o", "name"]
    assert kubectl(stack, static, *get).returncode == 0
    out = admin_cli("revoke", "--env=dev", "--user=alice@example.test")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("revoked ")
    assert out.stdout.strip().endswith("session(s) of oidc:alice@example.test on dev")
    # The apiserver checks the bound Secret on each request; its informer may lag briefly.
    wait_for(
        "the revoked deploy token to be rejected", lambda: kubectl(stack, static, *get).returncode
    )
    dead = kubectl(stack, static, *get)
    assert dead.returncode == 1 and "Unauthorized" in dead.stderr
    # The plugin's cached deploy credential, then logout.
    got = run_plugin(["dev", "credential", "--level", "deploy", "--reason", "t-deploy lo"], env)
    assert got.returncode == 0, got.stderr
    cache = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])
    assert len(list(cache.glob("cache/*/kubeconfigs/deploy-*.json"))) == 1
    listed = run_plugin(["envs"], env).stdout.splitlines()
    assert next(line for line in listed if line.startswith("dev ")).endswith("left")
    assert run_plugin(["logout"], env).returncode == 0
    assert list(cache.glob("cache/*/kubeconfigs/*.json")) == []


# --- parallel requests ---------------------------------------------------------------------


def deploy_issuances(url: str, env_id: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sample(text, "scipian_issuances_total", environment=env_id, level="deploy")


@pytest.fixture
def own_backend(stack: Stack) -> Iterator[BackendProcess]:
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="deploy"
    )
    try:
        yield backend
    finally:
        backend.stop()


def test_twenty_parallel_stale_requests_cost_one_login_and_one_issuance(
    stack: Stack, test_envs: None, own_backend: BackendProcess, tmp_path: Path
) -> None:
    browser = idp_login.browser()
    env = login(stack, "alice", make_env(stack, tmp_path / "config", own_backend.url), browser)
    time.sleep(MAX_AGE + 1)
    before = deploy_issuances(own_backend.url, STEP_UP_ENV)
    argv = [
        str(venv_bin() / "kubectl-scipian"),
        *[STEP_UP_ENV, "credential", "--level", "deploy", "--reason", "t-deploy parallel"],
    ]
    run_env = {**env, "KUBERNETES_EXEC_INFO": EXEC_INTERACTIVE}
    procs = [
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=run_env,
        )
        for _ in range(20)
    ]
    prompts: list[DevicePrompt] = []
    seen: list[str] = []
    lock = threading.Lock()

    def watch(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
        prompt = DevicePrompt()
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            if prompt.feed(line) and prompt not in prompts:
                with lock:
                    prompts.append(prompt)
                assert prompt.url is not None and prompt.user_code is not None
                idp_login.device_login_approve(
                    prompt.url,
                    prompt.user_code,
                    "alice",
                    stack.env["STACK_PASSWORD"],
                    session=browser,
                    seen=seen,
                )
        out = proc.stdout.read()
        return proc.wait(120), out, "".join(prompt.lines)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(watch, procs))
    assert [r[0] for r in results] == [0] * 20, [r[2] for r in results if r[0]]
    assert len({json.loads(r[1])["status"]["token"] for r in results}) == 1
    assert len(prompts) == 1 and seen.count("login") == 1
    assert deploy_issuances(own_backend.url, STEP_UP_ENV) == before + 1


def test_twenty_parallel_fresh_requests_issue_once(
    stack: Stack, own_backend: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "carol", make_env(stack, tmp_path / "config", own_backend.url))
    before = deploy_issuances(own_backend.url, "dev")
    args = ["dev", "credential", "--level", "deploy", "--reason", "t-deploy twenty"]
    with ThreadPoolExecutor(20) as pool:
        runs = list(pool.map(lambda _: run_plugin(args, env), range(20)))
    assert [r.stderr for r in runs if r.returncode != 0] == []
    assert deploy_issuances(own_backend.url, "dev") == before + 1
    # Another reason is another issuance (each one audited).
    other = run_plugin([*args[:-1], "t-deploy twenty-one"], env)
    assert other.returncode == 0, other.stderr
    assert deploy_issuances(own_backend.url, "dev") == before + 2


# --- the Environment's schema and the admin CLI ------------------------------------------


def environment(name: str, deploy: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "scipian.io/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": name},
            "spec": {
                "credentialsSecretRef": {"namespace": "scipian-system", "name": "x"},
                "deploy": deploy,
            },
        }
    )


def test_crd_defaults_and_validates_spec_deploy(stack: Stack) -> None:
    ok = stack.kubectl(
        "mgmt",
        "apply",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "-",
        input=environment("t-deploy-crd", {"namespaces": ["shop"]}),
    )
    deploy = json.loads(ok.stdout)["spec"]["deploy"]
    assert deploy == {
        "clusterRole": "scipian-deployer",  # the default deploy role (change.md §3)
        "namespaces": ["shop"],
        "ttlSeconds": 600,
        "maxAuthAgeSeconds": 300,
    }
    bad_specs: list[dict[str, Any]] = [
        {},
        {"namespaces": []},
        {"namespaces": ["Shop"]},
        {"namespaces": ["shop"], "maxAuthAgeSeconds": 4},
        {"namespaces": ["shop"], "maxAuthAgeSeconds": 3601},
        {"namespaces": ["shop"], "ttlSeconds": 599},
        {"namespaces": ["shop"], "approvals": {"required": -1}},
    ]
    for bad in bad_specs:
        got = stack.kubectl(
            "mgmt",
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            input=environment("t-deploy-crd", bad),
            check=False,
        )
        assert got.returncode == 1, bad
        assert "Invalid value" in got.stderr or "Required value" in got.stderr, got.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deploy-cluster-role=edit"], "a deploy level needs at least one --deploy-namespace"),
        (["--deploy-namespace=shop", "--max-auth-age=4"], "--max-auth-age must be between"),
        (["--deploy-namespace=Shop"], "invalid deploy namespace 'Shop'"),
        (["--deploy-namespace=shop", "--deploy-ttl=60"], "--deploy-ttl must be between"),
        (["--deploy-namespace=shop", "--approvals=-1"], "--approvals must be between"),
    ],
)
def test_admin_cli_refuses_bad_deploy_options(args: list[str], message: str) -> None:
    out = admin_cli("register", "--name=t-deploy-bad", "--kubeconfig=/nonexistent", *args)
    assert out.returncode == 2
    assert out.stderr.startswith(f"scipian-backend: {message}"), out.stderr
    assert len(out.stderr.splitlines()) == 1

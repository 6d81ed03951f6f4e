"""Access requests through the real plugin on the real stack (change.md §9, #27 item 3):
real logins at the provider's pages, the real backend over HTTP, the plugin as a
subprocess, real kubectl on prod and on mgmt (as its admin, for `-o json|yaml`).

The stack's grants (§13): bob (team-b) may ask for deploy on prod and read on staging;
dave approves on prod (release-managers) and staging (platform-admins); prod's deploy
namespace is `shop`. Each test asserts only on the requests it created, and deletes them
at its end (the worker then deletes their sessions and lifts the finalizer). The module
changes what bob may do while a request is open: it is in SHARED_STATE_FILES.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.test_plugin_deploy import login, make_env
from tests.helpers import Terminal, plugin_kubectl, shop_deployment, wait_for
from tests.stack.login import run_plugin
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"
RESOURCE = "accessrequests.scipian.io"
NAME = re.compile(r"^(prod|staging)-(read|deploy)-[a-z0-9]{5}$")
WAIT = 120.0  # a bound on a plugin run that waits for a decision, not a timing


def hint(env: str, level: str) -> str:
    return f"hint: ask for access: kubectl scipian {env} request {level} --for 1h --reason TEXT\n"


@pytest.fixture
def bob(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """bob, logged in just now (a deploy credential needs a login under 300 s)."""
    return login(stack, "bob", make_env(stack, tmp_path / "bob"))


@pytest.fixture
def dave(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """dave, logged in just now (a decision needs his own fresh login)."""
    return login(stack, "dave", make_env(stack, tmp_path / "dave"))


@pytest.fixture(scope="module")
def people(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """alice, bob and mallory, logged in once for the module (the hint needs no fresh login:
    RBAC refuses before any step-up)."""
    return {
        user: login(stack, user, make_env(stack, tmp_path_factory.mktemp(user) / "config"))
        for user in ("alice", "bob", "mallory")
    }


@pytest.fixture
def mine(stack: Stack) -> Iterator[list[str]]:
    """The names of the requests this test created; deleted at its end."""
    names: list[str] = []
    yield names
    for name in names:
        stack.kubectl("mgmt", "delete", RESOURCE, name, "--wait=false", check=False)


@pytest.fixture
def prod_deployment(stack: Stack) -> Iterator[str]:
    """A Deployment of this test's own in `shop` on prod (prod's deploy namespace)."""
    with shop_deployment(stack, "prod", f"t-req-{uuid.uuid4().hex[:6]}") as name:
        yield name


def kubectl_as(
    stack: Stack, env: dict[str, str], kubeconfig: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The real kubectl with a plugin kubeconfig, with the user's plugin cache."""
    return plugin_kubectl(stack, kubeconfig, *args, env=env)


class Waiting:
    """`ENV request ... --wait` running: its name (the first line on stdout), then its end."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(venv_bin() / "kubectl-scipian"), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.err: list[str] = []
        stderr = self.proc.stderr
        self.drain = threading.Thread(target=lambda: self.err.extend(stderr), daemon=True)
        self.drain.start()
        self.name = self.proc.stdout.readline().strip()

    def finish(self) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(WAIT)
        self.drain.join(WAIT)
        return code, out, "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def request_obj(stack: Stack, name: str) -> dict[str, Any]:
    got = stack.kubectl("mgmt", "get", RESOURCE, name, "-o", "json")
    doc: dict[str, Any] = json.loads(got.stdout)
    return doc


# -- the flow of §13: ask, approve, use, revoke ------------------------------------------------


def test_bob_asks_dave_approves_bob_scales_dave_revokes(
    stack: Stack,
    bob: dict[str, str],
    dave: dict[str, str],
    mine: list[str],
    prod_deployment: str,
    tmp_path: Path,
) -> None:
    reason = f"t-req scale {uuid.uuid4().hex[:6]}"
    deploy = tmp_path / "deploy.kubeconfig"
    ask_deploy = ["prod", "kubeconfig", "--level", "deploy", "--reason", reason, "-o", str(deploy)]
    before = run_plugin(ask_deploy, bob)
    assert (before.returncode, before.stdout, before.stderr) == (
        1,
        "",
        AUTH + hint("prod", "deploy"),
    )

    args = ["prod", "request", "deploy", "--for", "30m", "--reason", reason, "-n", "shop", "--wait"]
    waiting = Waiting(args, bob)
    try:
        name = waiting.name
        assert NAME.fullmatch(name), name
        mine.append(name)
        obj = request_obj(stack, name)
        assert obj["spec"]["level"] == "deploy" and obj["spec"]["namespaces"] == ["shop"]
        assert obj["spec"]["durationSeconds"] == 1800 and obj["spec"]["justification"] == reason
        assert obj["spec"]["requester"]["user"] == "oidc:bob@example.test"

        own = run_plugin(["approve-request", name, "--reason", "t-req mine"], bob)
        assert (own.returncode, own.stdout) == (1, ""), own.stderr
        assert own.stderr == (
            f"error: oidc:bob@example.test may not approve or deny their own request {name}\n"
        )
        approved = run_plugin(["approve-request", name, "--reason", "t-req on call"], dave)
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout == f"request {name}: approved (1 of 1); now Approved\n"
        code, out, err = waiting.finish()
    finally:
        waiting.kill()
    assert (code, out) == (0, ""), err
    lines = err.splitlines()
    assert lines[0].startswith(f"request {name}: Pending, approvals 0/1; expires in ")
    assert lines[1].startswith(f"request {name}: Approved, window ends in ")
    assert lines[2:] == [
        "use it: kubectl scipian prod kubeconfig --level deploy --reason TEXT --merge"
    ]

    made = run_plugin(ask_deploy, bob)
    assert made.returncode == 0, made.stderr
    scale = ["-n", "shop", "scale", "deployment", prod_deployment, "--replicas=2"]
    scaled = kubectl_as(stack, bob, deploy, *scale)
    assert scaled.returncode == 0, scaled.stderr
    got = stack.kubectl("prod", "get", "deployment", "-n", "shop", prod_deployment, "-o", "json")
    assert json.loads(got.stdout)["spec"]["replicas"] == 2
    elsewhere = kubectl_as(stack, bob, deploy, "-n", "default", "create", "configmap", "t-req-x")
    assert elsewhere.returncode == 1 and "forbidden" in elsewhere.stderr.lower()

    revoked = run_plugin(["revoke-request", name, "--reason", "t-req over"], dave)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"request {name}: revoked; now Revoked\n"
    # The sessions went before the answer; the apiserver's token cache may lag briefly.
    read = ["-n", "shop", "get", "deployment", prod_deployment, "-o", "name"]
    wait_for(
        "bob's credential to stop working", lambda: kubectl_as(stack, bob, deploy, *read).returncode
    )
    after = kubectl_as(stack, bob, deploy, *scale)
    assert after.returncode == 1, after.stdout
    # A new reason is a new credential (the one above is cached): refused, with the hint.
    again = run_plugin(
        ["prod", "kubeconfig", "--level", "deploy", "--reason", f"{reason} again"], bob
    )
    assert (again.returncode, again.stdout, again.stderr) == (1, "", AUTH + hint("prod", "deploy"))
    obj = request_obj(stack, name)
    assert obj["status"]["phase"] == "Revoked"
    assert obj["status"]["decision"]["user"] == "oidc:dave@example.test"


def test_a_read_request_reads_until_bob_cancels_it(
    stack: Stack, bob: dict[str, str], dave: dict[str, str], mine: list[str]
) -> None:
    read = ["staging", "get", "namespaces", "default", "-o", "name"]
    before = run_plugin(read, bob)
    assert (before.returncode, before.stderr) == (1, AUTH + hint("staging", "read"))
    made = run_plugin(["staging", "request", "read", "--for", "10m", "--reason", "t-req r"], bob)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip()
    mine.append(name)
    approved = run_plugin(["approve-request", name, "--reason", "t-req ok"], dave)
    assert approved.returncode == 0, approved.stderr
    got = run_plugin(read, bob)
    assert (got.returncode, got.stdout) == (0, "namespace/default\n"), got.stderr
    envs = run_plugin(["envs"], bob)
    assert "staging" in [line.split()[0] for line in envs.stdout.splitlines()[1:]], envs.stdout
    cancelled = run_plugin(["staging", "request", "--cancel", name], bob)
    assert cancelled.stdout == f"request {name}: Cancelled\n", cancelled.stderr
    # Its sessions and bindings went before the answer; the apiserver's token cache may
    # still take the credential for a few seconds (then the cluster's own Forbidden).
    # Once it is refused (401), the plugin asks once more and is refused, with the hint.
    refused = (1, "", AUTH + hint("staging", "read"))

    def outcome() -> tuple[int, str, str]:
        got = run_plugin(read, bob)
        assert got.returncode == 1 or got.stdout == "namespace/default\n", got.stderr
        return got.returncode, got.stdout, got.stderr

    wait_for("bob's read credential to be refused", lambda: outcome() == refused)


def test_wait_ends_1_on_a_denial(
    stack: Stack, bob: dict[str, str], dave: dict[str, str], mine: list[str]
) -> None:
    args = ["staging", "request", "read", "--for", "10m", "--reason", "t-req look", "--wait"]
    waiting = Waiting(args, bob)
    try:
        name = waiting.name
        assert NAME.fullmatch(name), name
        mine.append(name)
        denied = run_plugin(["deny-request", name, "--reason", "t-req not now"], dave)
        assert denied.returncode == 0, denied.stderr
        assert denied.stdout == f"request {name}: denied; now Denied\n"
        code, out, err = waiting.finish()
    finally:
        waiting.kill()
    assert (code, out) == (1, ""), err
    assert (
        err.splitlines()[-1] == f"request {name}: Denied by oidc:dave@example.test: t-req not now"
    )
    twice = run_plugin(["approve-request", name, "--reason", "t-req late"], dave)
    assert (twice.returncode, twice.stdout) == (1, "")
    assert twice.stderr.startswith("error: ") and len(twice.stderr.splitlines()) == 1


def test_wait_on_a_terminal_redraws_one_line(
    stack: Stack, bob: dict[str, str], dave: dict[str, str], mine: list[str]
) -> None:
    args = ["staging", "request", "read", "--for", "10m", "--reason", "t-req tty", "--wait"]
    with Terminal(args, bob, WAIT) as term:
        assert term.read_until(b": Pending"), term.text
        name = term.text.splitlines()[0].strip()
        assert NAME.fullmatch(name), term.seen
        mine.append(name)
        denied = run_plugin(["deny-request", name, "--reason", "t-req tty no"], dave)
        assert denied.returncode == 0, denied.stderr
        code = term.finish()
    text = term.text
    assert code == 1, text
    # One line, redrawn in place: carriage return and erase-line before each state.
    assert f"\r\x1b[2Krequest {name}: Pending, approvals 0/1; expires in " in text
    assert f"\r\x1b[2Krequest {name}: Denied by oidc:dave@example.test: t-req tty no" in text


def test_cancel_names_the_environment(
    stack: Stack, bob: dict[str, str], dave: dict[str, str], mine: list[str]
) -> None:
    made = run_plugin(["staging", "request", "read", "--for", "1h", "--reason", "t-req c"], bob)
    assert made.returncode == 0, made.stderr
    name = made.stdout.strip()
    assert NAME.fullmatch(name) and made.stdout == f"{name}\n"
    mine.append(name)
    assert made.stderr == (
        f"request {name}: Pending; an approver runs: "
        f"kubectl scipian approve-request {name} --reason TEXT\n"
    )
    # Completion offers it: to dave, who may decide it; to bob, to cancel on its environment.
    to_decide = run_plugin(["completion", "__complete", "approve-request", ""], dave)
    assert name in to_decide.stdout.splitlines(), to_decide.stdout
    to_cancel = run_plugin(["completion", "__complete", "staging", "request", "--cancel", ""], bob)
    assert name in to_cancel.stdout.splitlines(), to_cancel.stdout
    elsewhere = run_plugin(["completion", "__complete", "prod", "request", "--cancel", ""], bob)
    assert name not in elsewhere.stdout.splitlines()
    wrong = run_plugin(["prod", "request", "--cancel", name], bob)
    assert (wrong.returncode, wrong.stdout) == (1, "")
    assert wrong.stderr == f"error: request {name} is of environment staging, not prod\n"
    assert request_obj(stack, name)["status"]["phase"] == "Pending"
    theirs = run_plugin(["staging", "request", "--cancel", name], dave)
    assert theirs.returncode == 1 and theirs.stderr.startswith("error: ")
    done = run_plugin(["staging", "request", "--cancel", name, "--reason", "t-req no need"], bob)
    assert (done.returncode, done.stdout) == (0, f"request {name}: Cancelled\n"), done.stderr
    status = request_obj(stack, name)["status"]
    assert status["phase"] == "Cancelled" and status["decision"]["user"] == "oidc:bob@example.test"


# -- `requests` as kubectl shows them ----------------------------------------------------------


def test_requests_is_kubectl_get_accessrequest(
    stack: Stack, bob: dict[str, str], dave: dict[str, str], mine: list[str]
) -> None:
    names = []
    for level, env_id in (("read", "staging"), ("deploy", "prod")):
        made = run_plugin(
            [env_id, "request", level, "--for", "1h30m", "--reason", "t-req \u00e9 <&> list"], bob
        )
        assert made.returncode == 0, made.stderr
        names.append(made.stdout.strip())
        mine.append(names[-1])
    # Settled first (a decided request no longer changes), so both reads see one version.
    for env_id, name in zip(("staging", "prod"), names, strict=True):
        done = run_plugin([env_id, "request", "--cancel", name], bob)
        assert done.returncode == 0, done.stderr
    for who in (bob, dave):  # the requester, and an approver of both environments
        for name in names:
            for output in ("json", "yaml"):
                ours = run_plugin(["requests", name, "-o", output], who)
                theirs = stack.kubectl("mgmt", "get", RESOURCE, name, "-o", output)
                assert ours.returncode == 0, ours.stderr
                assert ours.stdout == theirs.stdout
    listed = run_plugin(["requests", "-o", "json"], bob)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert {k: v for k, v in doc.items() if k != "items"} == {
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
    }  # fmt: skip
    everything = json.loads(stack.kubectl("mgmt", "get", RESOURCE, "-o", "json").stdout)
    kubectls = {
        i["metadata"]["name"]: i for i in everything["items"] if i["metadata"]["name"] in names
    }
    plugins = {i["metadata"]["name"]: i for i in doc["items"] if i["metadata"]["name"] in names}
    assert plugins == kubectls and len(plugins) == 2
    assert all(i["spec"]["requester"]["user"] == "oidc:bob@example.test" for i in doc["items"])
    # The table: kubectl's printer columns, each of its cells but AGE the same.
    table = run_plugin(["requests", names[1]], bob)
    kubectl_table = stack.kubectl("mgmt", "get", RESOURCE, names[1])
    assert table.returncode == 0, table.stderr
    ours_rows = [line.split()[:-1] for line in table.stdout.splitlines()]
    theirs_rows = [line.split()[:-1] for line in kubectl_table.stdout.splitlines()]
    assert ours_rows == theirs_rows
    assert ours_rows[0] == ["NAME", "ENV", "LEVEL", "REQUESTER", "PHASE", "EXPIRES"]
    wide = run_plugin(["requests", names[1], "-o", "wide"], bob)
    head, row = wide.stdout.splitlines()
    assert head.split()[-3:] == ["NAMESPACES", "APPROVALS", "REASON"]
    assert row.split()[-6:] == ["shop", "0/1", "t-req", "\u00e9", "<&>", "list"]


def test_requests_of_a_name_nobody_may_see(bob: dict[str, str]) -> None:
    got = run_plugin(["requests", "prod-deploy-zzzzz"], bob)
    assert (got.returncode, got.stdout) == (1, "")
    assert got.stderr == (
        'Error from server (NotFound): accessrequests.scipian.io "prod-deploy-zzzzz" not found\n'
    )


# -- the refusal hint (§9, §13) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "args", "expected"),
    [
        ("bob", ["staging", "get", "pods"], AUTH + hint("staging", "read")),
        ("bob", ["prod", "kubeconfig", "--level", "deploy", "--reason", "t-req h"],
         AUTH + hint("prod", "deploy")),
        ("bob", ["dev", "get", "pods"], AUTH),  # team-b may not ask on dev
        ("bob", ["staging", "kubeconfig", "--level", "deploy", "--reason", "t-req h"], AUTH),
        ("bob", ["nosuch", "get", "pods"], AUTH),
        ("alice", ["prod", "get", "pods"], AUTH),
        ("alice", ["prod", "kubeconfig", "--level", "deploy", "--reason", "t-req h"], AUTH),
        ("mallory", ["prod", "get", "pods"], AUTH),
        ("mallory", ["staging", "kubeconfig", "--level", "deploy", "--reason", "t-req h"], AUTH),
        ("mallory", ["nosuch", "get", "pods"], AUTH),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)  # fmt: skip
def test_the_hint_only_where_the_user_may_ask(
    people: dict[str, dict[str, str]], user: str, args: list[str], expected: str
) -> None:
    got = run_plugin(args, people[user])
    assert (got.returncode, got.stdout, got.stderr) == (1, "", expected)

"""`kubectl scipian ENV helm rollback` against the real stack: the real Helm 4 run by the
plugin with a deploy credential, the real backend's audit, the real provider's step-up.

Each test installs a release of its own (unique name) in `shop` on dev as dev's admin:
revision 1 (shop-web 1.0.0), revision 2 (1.1.0). The plugin runs helm through a `--helm`
wrapper (a Python script) that records, while helm is about to run, the KUBECONFIG path,
its file's and directory's modes, and which /proc/*/cmdline holds the path or the token,
then execs the real helm (or, for the Ctrl-C test, waits to be interrupted).
`t-rollback` is this module's own environment on the dev cluster (deploy in `shop`,
maxAuthAgeSeconds 10) so that a step-up login really happens.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.helm.world import Helm
from tests.e2e.test_plugin_deploy import grants, login, make_env
from tests.helpers import backend_log_lines, wait_for
from tests.stack import idp_login
from tests.stack.backend_daemon import admin_cli
from tests.stack.login import run_approving, run_plugin
from tests.stack.paths import venv_bin
from tests.stack.releases import CHART, helm_env, package

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"
STEP_UP_ENV = "t-rollback"
MAX_AGE = 10
SUCCESS = "Rollback was a success! Happy Helming!\n"
EXEC_INTERACTIVE = json.dumps(
    {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": True},
    }
)

WRAPPER = """#!{python}
import json, os, signal, sys, time
out = os.environ["T_WRAP_OUT"]
if sys.argv[1:2] != ["rollback"]:
    os.execv(os.environ["T_REAL_HELM"], [os.environ["T_REAL_HELM"], *sys.argv[1:]])
path = os.environ["KUBECONFIG"]
doc = json.load(open(path))
token = doc["users"][0]["user"]["token"]
hits = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if path in cmdline or token in cmdline:
            hits.append(pid)
facts = {{
    "path": path,
    "mode": oct(os.stat(path).st_mode & 0o777),
    "dir_mode": oct(os.stat(os.path.dirname(path)).st_mode & 0o777),
    "argv": sys.argv[1:],
    "cmdline_hits": hits,
}}
with open(os.path.join(out, "facts.json"), "w") as f:
    json.dump(facts, f)
if os.environ.get("T_WRAP_MODE") == "wait":
    def interrupted(signum, frame):
        open(os.path.join(out, "interrupted"), "w").close()
        sys.exit(130)
    signal.signal(signal.SIGINT, interrupted)
    open(os.path.join(out, "ready"), "w").close()
    time.sleep(120)
    sys.exit(3)
os.execv(os.environ["T_REAL_HELM"], [os.environ["T_REAL_HELM"], *sys.argv[1:]])
"""


@pytest.fixture(scope="module")
def admin_helm(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("rollback-admin")
    return Helm(Path(stack.env["STACK_HELM"]), helm_env(home, stack.kubeconfig("dev")))


@pytest.fixture(scope="module")
def v11(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package(Path(stack.env["STACK_HELM"]), "1.1.0", tmp_path_factory.mktemp("chart"))


@pytest.fixture
def release(admin_helm: Helm, v11: Path) -> Iterator[str]:
    """A release of this test's own in `shop` on dev: revisions 1 (1.0.0) and 2 (1.1.0)."""
    name = f"t-rb-{uuid.uuid4().hex[:8]}"
    admin_helm.run("install", name, str(CHART), "-n", "shop")
    admin_helm.run("upgrade", name, str(v11), "-n", "shop")
    yield name
    admin_helm.run("uninstall", name, "-n", "shop", check=False)


@pytest.fixture(scope="module")
def step_up_env(stack: Stack) -> Iterator[str]:
    out = admin_cli(
        "register",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=test",
        f"--name={STEP_UP_ENV}",
        "--deploy-namespace=shop",
        f"--max-auth-age={MAX_AGE}",
    )
    assert out.returncode == 0, out.stderr
    manifest = json.dumps(_renamed(grants([STEP_UP_ENV])))
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield STEP_UP_ENV
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        stack.kubectl("mgmt", "delete", "environment", STEP_UP_ENV, "--wait=false", check=False)


def _renamed(doc: dict[str, Any]) -> dict[str, Any]:
    """test_plugin_deploy's grants under names of this module's own, plus release reads
    (the plan is read from the history)."""
    for item in doc["items"]:
        item["metadata"]["name"] = "t-rollback-grants"
        if "roleRef" in item:
            item["roleRef"]["name"] = "t-rollback-grants"
        else:
            item["rules"][0]["resources"].append("environments/releases")
    return doc


@pytest.fixture(scope="module")
def alice(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("alice") / "config"))


@pytest.fixture
def wrapper(stack: Stack, tmp_path: Path) -> tuple[Path, Path]:
    """(the --helm wrapper, the directory it reports into)."""
    out = tmp_path / "wrap"
    out.mkdir()
    script = tmp_path / "helm-wrapper"
    script.write_text(WRAPPER.format(python=sys.executable))
    script.chmod(0o755)
    return script, out


def wrapped_env(
    stack: Stack, env: dict[str, str], out: Path, mode: str = "", helm: str = "STACK_HELM"
) -> dict[str, str]:
    return {
        **env,
        "T_WRAP_OUT": str(out),
        "T_REAL_HELM": stack.env[helm],
        "T_WRAP_MODE": mode,
        "HOME": str(out),
        "HELM_CACHE_HOME": str(out / "cache"),
        "HELM_CONFIG_HOME": str(out / "config"),
        "HELM_DATA_HOME": str(out / "data"),
    }


def history(helm: Helm, name: str) -> list[dict[str, Any]]:
    got = helm.run("history", name, "-n", "shop", "-o", "json")
    items: list[dict[str, Any]] = json.loads(got.stdout)
    return items


def step_up(stack: Stack, env: dict[str, str], env_id: str, reason: str) -> list[str]:
    """A deploy credential for `reason` through the exec path (a login is approved at the
    provider's pages if the backend asks for one); the pages answered."""
    seen: list[str] = []
    got = run_approving(
        [env_id, "credential", "--level", "deploy", "--reason", reason],
        "alice",
        stack.env["STACK_PASSWORD"],
        {**env, "KUBERNETES_EXEC_INFO": EXEC_INTERACTIVE},
        session=idp_login.browser(),
        seen=seen,
    )
    assert got.returncode == 0, got.stderr
    return seen


def backend_lines(stack: Stack, reason: str) -> list[dict[str, Any]]:
    """The rollback's two audit lines (started, finished), from whichever replicas."""
    return backend_log_lines(
        stack, lambda x: x.get("event") == "rollback" and x.get("justification") == reason, 2
    )


def events_with(stack: Stack, text: str) -> list[dict[str, Any]]:
    """The rollback Events naming `text` (the credential's issuance names it too)."""
    got = stack.kubectl("mgmt", "get", "events", "-n", "default", "-o", "json")
    items: list[dict[str, Any]] = json.loads(got.stdout)["items"]
    return [
        e
        for e in items
        if text in (e.get("message") or "") and e.get("reason", "").startswith("ReleaseRoll")
    ]


def check_private_kubeconfig(out: Path, token_free: list[str]) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((out / "facts.json").read_text())
    assert facts["mode"] == "0o600" and facts["dir_mode"] == "0o700"
    assert facts["cmdline_hits"] == []
    assert not Path(facts["path"]).exists() and not Path(facts["path"]).parent.exists()
    for text in token_free:
        assert facts["path"] not in text
    return facts


def test_alice_rolls_back_on_dev(
    stack: Stack,
    alice: dict[str, str],
    admin_helm: Helm,
    release: str,
    wrapper: tuple[Path, Path],
) -> None:
    script, out = wrapper
    reason = f"t-rollback dev {uuid.uuid4().hex[:8]}"
    step_up(stack, alice, "dev", reason)
    args = ["dev", "helm", "rollback", release, "-n", "shop", "--reason", reason]
    got = run_plugin([*args, "--helm", str(script)], wrapped_env(stack, alice, out))
    assert got.returncode == 0, got.stderr
    assert got.stdout == SUCCESS  # helm's own words, unchanged
    assert got.stderr == (
        f"Rollback plan for release {release!r} in namespace 'shop' on dev: revision 2 "
        "(shop-web-1.1.0, deployed) -> revision 1 (shop-web-1.0.0)\n"
    )
    facts = check_private_kubeconfig(out, [got.stdout, got.stderr])
    assert facts["argv"] == ["rollback", "-n", "shop", "--", release, "1"]
    # The release as the real helm reports it: revision 3, a rollback to 1.
    newest = history(admin_helm, release)[-1]
    assert (newest["revision"], newest["status"], newest["description"]) == (
        3,
        "deployed",
        "Rollback to 1",
    )
    assert newest["chart"] == "shop-web-1.0.0"
    # The audit: what the plugin declared, then what the backend read on the target.
    lines = backend_lines(stack, reason)
    assert [x["outcome"] for x in lines] == ["started", "finished"]
    for x in lines:
        assert x["user"] == "oidc:alice@example.test" and x["environment"] == "dev"
        assert x["rollback"]["release"] == f"shop/{release}"
        assert (x["rollback"]["fromRevision"], x["rollback"]["toRevision"]) == (2, 1)
    assert lines[1]["rollback"]["helmExitCode"] == 0
    assert lines[1]["rollback"]["result"] == {
        "revision": 3,
        "status": "deployed",
        "description": "Rollback to 1",
        "rolledBack": True,
    }
    wait_for("the rollback's two Events", lambda: len(events_with(stack, reason)) == 2, 30)
    events = sorted(events_with(stack, reason), key=lambda e: e["reason"])
    assert [(e["reason"], e["type"]) for e in events] == [
        ("ReleaseRollbackStarted", "Normal"),
        ("ReleaseRolledBack", "Normal"),
    ]
    for e in events:
        assert e["involvedObject"]["name"] == "dev"
        assert "oidc:alice@example.test" in e["message"]
        assert f"release shop/{release} from revision 2 to 1" in e["message"]
    assert "the release is at revision 3 (deployed, 'Rollback to 1'" in events[1]["message"]


def test_helm_3_the_oldest_tested(
    stack: Stack,
    alice: dict[str, str],
    v11: Path,
    wrapper: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """Helm 3 (v3.22, MIN_HELM) rolls back a release it wrote."""
    helm3 = Helm(Path(stack.env["STACK_HELM3"]), helm_env(tmp_path / "h3", stack.kubeconfig("dev")))
    name = f"t-rb3-{uuid.uuid4().hex[:8]}"
    helm3.run("install", name, str(CHART), "-n", "shop")
    try:
        helm3.run("upgrade", name, str(v11), "-n", "shop")
        script, out = wrapper
        reason = f"t-rollback helm3 {uuid.uuid4().hex[:8]}"
        step_up(stack, alice, "dev", reason)
        args = ["dev", "helm", "rollback", name, "-n", "shop", "--reason", reason]
        env = wrapped_env(stack, alice, out, helm="STACK_HELM3")
        got = run_plugin([*args, "--helm", str(script)], env)
        assert (got.returncode, got.stdout) == (0, SUCCESS), got.stderr
        check_private_kubeconfig(out, [got.stdout, got.stderr])
        newest = history(helm3, name)[-1]
        assert (newest["revision"], newest["description"]) == (3, "Rollback to 1")
        lines = backend_lines(stack, reason)
        assert lines[-1]["rollback"]["result"]["rolledBack"] is True
    finally:
        helm3.run("uninstall", name, "-n", "shop", check=False)


def test_rollback_after_a_step_up_login(
    stack: Stack,
    step_up_env: str,
    admin_helm: Helm,
    release: str,
    wrapper: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    browser = idp_login.browser()
    env = login(stack, "alice", make_env(stack, tmp_path / "config"), browser)
    time.sleep(MAX_AGE + 1)  # the login is now older than t-rollback allows
    reason = f"t-rollback step-up {uuid.uuid4().hex[:8]}"
    args = [step_up_env, "helm", "rollback", release, "1", "-n", "shop", "--reason", reason]
    # Without a terminal the plugin cannot log in again: the RFC's line, nothing run.
    script, out = wrapper
    refused = run_plugin([*args, "--helm", str(script)], wrapped_env(stack, env, out))
    assert refused.returncode == 1 and refused.stderr.splitlines()[-2:-1] == [AUTH.strip()]
    assert not (out / "facts.json").exists()
    seen: list[str] = []
    got = run_approving(
        [step_up_env, "credential", "--level", "deploy", "--reason", reason],
        "alice",
        stack.env["STACK_PASSWORD"],
        {**env, "KUBERNETES_EXEC_INFO": EXEC_INTERACTIVE},
        session=browser,
        seen=seen,
    )
    assert got.returncode == 0, got.stderr
    assert seen.count("login") == 1  # one fresh sign-in at the provider's pages
    done = run_plugin([*args, "--helm", str(script)], wrapped_env(stack, env, out))
    assert (done.returncode, done.stdout) == (0, SUCCESS), done.stderr
    check_private_kubeconfig(out, [done.stdout, done.stderr])
    newest = history(admin_helm, release)[-1]
    assert (newest["revision"], newest["description"]) == (3, "Rollback to 1")


def test_alice_on_prod_is_the_authentication_line(
    alice: dict[str, str], wrapper: tuple[Path, Path], stack: Stack
) -> None:
    script, out = wrapper
    args = ["prod", "helm", "rollback", "shop-web", "-n", "shop", "--reason", "t-rollback prod"]
    got = run_plugin([*args, "--helm", str(script)], wrapped_env(stack, alice, out))
    assert (got.returncode, got.stdout, got.stderr) == (1, "", AUTH)
    assert not (out / "facts.json").exists()


def test_helm_failure_passes_through(
    stack: Stack,
    alice: dict[str, str],
    admin_helm: Helm,
    release: str,
    wrapper: tuple[Path, Path],
) -> None:
    # What the real helm says for a revision that does not exist (as dev's admin; it
    # changes nothing).
    expected = admin_helm.run("rollback", release, "99", "-n", "shop", check=False)
    assert expected.returncode != 0 and expected.stderr
    script, out = wrapper
    reason = f"t-rollback fail {uuid.uuid4().hex[:8]}"
    step_up(stack, alice, "dev", reason)
    args = ["dev", "helm", "rollback", release, "99", "-n", "shop", "--reason", reason]
    got = run_plugin([*args, "--helm", str(script)], wrapped_env(stack, alice, out))
    assert got.returncode == expected.returncode
    assert got.stdout == expected.stdout
    plan = (
        f"Rollback plan for release {release!r} in namespace 'shop' on dev: revision 2 "
        "(shop-web-1.1.0, deployed) -> revision 99 (not in the release's history)\n"
    )
    assert got.stderr == plan + expected.stderr
    check_private_kubeconfig(out, [got.stdout, got.stderr])
    assert [x["revision"] for x in history(admin_helm, release)] == [1, 2]
    lines = backend_lines(stack, reason)
    assert [x["outcome"] for x in lines] == ["started", "finished"]
    assert lines[1]["rollback"]["helmExitCode"] == expected.returncode
    assert lines[1]["rollback"]["result"]["rolledBack"] is False
    wait_for("the failed rollback's Event", lambda: len(events_with(stack, reason)) == 2, 30)
    reasons = {(e["reason"], e["type"]) for e in events_with(stack, reason)}
    assert ("ReleaseRollbackFailed", "Warning") in reasons


def test_ctrl_c_forwards_and_cleans_up(
    stack: Stack,
    alice: dict[str, str],
    admin_helm: Helm,
    release: str,
    wrapper: tuple[Path, Path],
) -> None:
    script, out = wrapper
    reason = f"t-rollback ctrl-c {uuid.uuid4().hex[:8]}"
    step_up(stack, alice, "dev", reason)
    args = ["dev", "helm", "rollback", release, "-n", "shop", "--reason", reason]
    proc = subprocess.Popen(
        [str(venv_bin() / "kubectl-scipian"), *args, "--helm", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=wrapped_env(stack, alice, out, "wait"),
    )
    try:
        wait_for("helm to run", lambda: (out / "ready").exists() or proc.poll() is not None, 60)
        assert proc.poll() is None
        path = Path(json.loads((out / "facts.json").read_text())["path"])
        assert path.exists()
        proc.send_signal(signal.SIGINT)  # the plugin only: it must forward it to helm
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert (out / "interrupted").exists()
    check_private_kubeconfig(out, [stdout, stderr])
    assert [x["revision"] for x in history(admin_helm, release)] == [1, 2]
    assert [x["outcome"] for x in backend_lines(stack, reason)] == ["started", "finished"]


def test_dry_run_prints_the_plan_and_changes_nothing(
    alice: dict[str, str], admin_helm: Helm, release: str, tmp_path: Path
) -> None:
    args = ["dev", "helm", "rollback", release, "-n", "shop", "--dry-run"]
    # No helm needed and none run; no reason needed.
    got = run_plugin([*args, "--helm", str(tmp_path / "no-helm")], alice)
    assert (got.returncode, got.stderr) == (0, "")
    assert got.stdout == (
        f"Rollback plan for release {release!r} in namespace 'shop' on dev: revision 2 "
        "(shop-web-1.1.0, deployed) -> revision 1 (shop-web-1.0.0)\n"
    )
    assert [x["revision"] for x in history(admin_helm, release)] == [1, 2]


@pytest.mark.parametrize("version", ["v3.13.2", "", "not a version"])
def test_old_or_no_helm_is_one_line(alice: dict[str, str], tmp_path: Path, version: str) -> None:
    fake = tmp_path / "helm"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{version}'\n")
    fake.chmod(0o755)
    args = ["dev", "helm", "rollback", "whatever", "-n", "shop", "--reason", "t-rollback old"]
    got = run_plugin([*args, "--helm", str(fake)], alice)
    assert got.returncode == 1 and got.stdout == ""
    assert len(got.stderr.splitlines()) == 1
    assert "helm rollback needs helm v3.22 or newer" in got.stderr
    gone = run_plugin(args, {**alice, "PATH": str(tmp_path / "empty")})
    assert (gone.returncode, gone.stdout) == (1, "")
    assert (
        gone.stderr
        == "error: helm rollback needs helm v3.22 or newer: no helm on PATH (or pass --helm)\n"
    )

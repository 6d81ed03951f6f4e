"""`kubectl scipian promote|promotions|approve` through the real plugin on the real stack:
the real backend, the real provider's logins (carol promotes, dave approves), the real
Helm 4 run by the plugin with each step's credential, and the real helm as each cluster's
admin to check what happened.

Each test promotes a release of its own (unique name) in `shop`; the stack's grants:
carol and dave (platform-admins) may deploy everywhere, dave (release-managers) approves
prod, prod needs a promotion from staging and one approval.
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
from tests.e2e.helm.world import Helm
from tests.e2e.test_plugin_deploy import login, make_env
from tests.stack.login import run_plugin
from tests.stack.paths import venv_bin
from tests.stack.releases import CHART, helm_env, package

pytestmark = pytest.mark.stack
NAME_LINE = re.compile(r"^promotion ([a-z0-9.-]+): ", re.M)
SUMMARY_HEAD = ["ENV", "PHASE", "REVISION", "CHART", "DURATION", "MESSAGE"]


@pytest.fixture(scope="module")
def charts(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("charts")
    helm = Path(stack.env["STACK_HELM"])
    return {v: package(helm, v, out) for v in ("1.1.0", "1.2.0")}


@pytest.fixture(scope="module")
def admin(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Helm]:
    home = tmp_path_factory.mktemp("admin-helm")
    return {
        c: Helm(Path(stack.env["STACK_HELM"]), helm_env(home / c, stack.kubeconfig(c)))
        for c in ("dev", "staging", "prod")
    }


@pytest.fixture
def release(admin: dict[str, Helm]) -> Iterator[str]:
    name = f"t-promo-{uuid.uuid4().hex[:8]}"
    yield name
    for helm in admin.values():
        helm.run("uninstall", name, "-n", "shop", check=False)


@pytest.fixture
def carol(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """carol, logged in just now (creating a promotion needs a login under 300 s)."""
    env = login(stack, "carol", make_env(stack, tmp_path / "carol"))
    return {**env, **_helm_homes(tmp_path / "carol-helm")}


def dave(stack: Stack, tmp_path: Path) -> dict[str, str]:
    return login(stack, "dave", make_env(stack, tmp_path / "dave"))


def _helm_homes(home: Path) -> dict[str, str]:
    return {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def promote_args(
    stack: Stack, release: str, chart: Path | str, version: str, *more: str
) -> list[str]:
    return [
        "promote", release, "-n", "shop", "--chart", str(chart), "--version", version,
        "--reason", f"t-promo {release}", "--helm", stack.env["STACK_HELM"], *more,
    ]  # fmt: skip


def history(helm: Helm, release: str) -> list[dict[str, Any]]:
    got = helm.run("history", release, "-n", "shop", "-o", "json", check=False)
    if got.returncode != 0:
        assert "not found" in got.stderr
        return []
    items: list[dict[str, Any]] = json.loads(got.stdout)
    return items


def summary(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == SUMMARY_HEAD, stdout
    starts = [lines[0].index(h) for h in SUMMARY_HEAD]
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = cells
    return rows


def promotion(env: dict[str, str], name: str) -> dict[str, Any]:
    got = run_plugin(["promotions", name, "-o", "json"], env)
    assert got.returncode == 0, got.stderr
    doc: dict[str, Any] = json.loads(got.stdout)
    return doc


# -- bad input: one line, exit 2, nothing created --------------------------------------


@pytest.mark.parametrize(
    ("more", "says"),
    [
        (["--version", "9.9.9", "--through", "dev"], "--version 9.9.9 does not match"),
        (["--version", "1.0.0", "--through", "dev,,prod"], "'' is not an environment id"),
        (["--version", "1.0.0", "--through", "dev,dev"], "names an environment twice"),
        (["--version", "1.0.0", "--through", "dev", "--values-for", "prod=x.yaml"],
         "prod is not in --through"),
        (["--version", "1.0.0", "--through", "dev", "--values-for", "dev"], "takes ENV=FILE"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(
    stack: Stack, tmp_path: Path, more: list[str], says: str
) -> None:
    env = {**make_env(stack, tmp_path / "nobody"), **_helm_homes(tmp_path / "h")}
    args = ["promote", "t-promo-bad", "-n", "shop", "--chart", str(CHART), "--reason", "t"]
    got = run_plugin([*args, *more, "--helm", stack.env["STACK_HELM"]], env)
    assert (got.returncode, got.stdout) == (2, "")
    assert len(got.stderr.splitlines()) == 1 and says in got.stderr, got.stderr


def test_no_helm_is_one_line_exit_2(stack: Stack, tmp_path: Path) -> None:
    env = {**make_env(stack, tmp_path / "nobody"), "PATH": str(tmp_path)}
    args = ["promote", "t-promo-bad", "-n", "shop", "--chart", str(CHART), "--version", "1.0.0"]
    got = subprocess.run(
        [str(venv_bin() / "kubectl-scipian"), *args, "--through", "dev", "--reason", "t"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert (got.returncode, got.stdout) == (2, "")
    assert got.stderr == (
        "error: promote needs helm v3.22 or newer: no helm on PATH (or pass --helm)\n"
    )


# -- through the backend ----------------------------------------------------------------


class Waiting:
    """The plugin promoting in the background; `lines`: its stderr so far (a thread keeps
    reading it)."""

    def __init__(self, proc: subprocess.Popen[str], lines: list[str], drain: threading.Thread):
        self.proc, self.lines, self.drain = proc, lines, drain

    def finish(self, timeout: float) -> str:
        """Its stdout, once it ended and its stderr is all in `lines`."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self.drain.join(timeout)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_waiting(args: list[str], env: dict[str, str]) -> Waiting:
    """The plugin promoting in the background, once it says it waits for an approval."""
    proc = subprocess.Popen(
        [str(venv_bin() / "kubectl-scipian"), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("waiting for approval of ") or line.startswith("error"):
            break
    drain = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    drain.start()
    return Waiting(proc, lines, drain)


def test_happy_path_dave_approves_the_waiting_plugin(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    before = {c: history(admin[c], release) for c in admin}
    assert before == {"dev": [], "staging": [], "prod": []}
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev,staging,prod")
    waiting = start_waiting(args, carol)
    lines = waiting.lines
    try:
        text = "".join(lines)
        found = NAME_LINE.search(text)
        assert found, text
        name = found.group(1)
        assert lines[-1] == (
            f"waiting for approval of prod: kubectl scipian approve {name} --step prod "
            "--reason TEXT\n"
        ), text
        # dev and staging are done before prod waits, as the real helm reports.
        for c in ("dev", "staging"):
            newest = history(admin[c], release)[-1]
            assert (newest["revision"], newest["status"], newest["chart"]) == (
                1, "deployed", "shop-web-1.2.0",
            )  # fmt: skip
        assert history(admin["prod"], release) == []
        dave_env = dave(stack, tmp_path)
        ok = run_plugin(["approve", name, "--step", "prod", "--reason", "t-promo CAB ok"], dave_env)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.startswith(f"promotion {name}: prod approved (1 of 1)")
        stdout = waiting.finish(300)
    finally:
        waiting.kill()
    assert waiting.proc.returncode == 0, "".join(lines)
    rows = summary(stdout)
    assert list(rows) == ["dev", "staging", "prod"]
    for row in rows.values():
        assert row[1:4] == ["Succeeded", "1", "shop-web-1.2.0"], stdout
    newest = history(admin["prod"], release)[-1]
    assert (newest["revision"], newest["status"], newest["chart"]) == (
        1,
        "deployed",
        "shop-web-1.2.0",
    )
    # The record: who, what, where, when, why, approved by whom.
    doc = promotion(carol, name)
    spec, status = doc["spec"], doc["status"]
    assert doc["kind"] == "Promotion" and doc["metadata"]["name"] == name
    assert spec["initiator"]["user"] == "oidc:carol@example.test"
    assert (spec["release"], spec["namespace"], spec["through"]) == (
        release, "shop", ["dev", "staging", "prod"],
    )  # fmt: skip
    assert (spec["chart"]["name"], spec["chart"]["version"]) == ("shop-web", "1.2.0")
    assert spec["justification"] == f"t-promo {release}"
    assert status["phase"] == "Succeeded"
    assert [(s["environment"], s["phase"], s["revision"]) for s in status["steps"]] == [
        ("dev", "Succeeded", 1), ("staging", "Succeeded", 1), ("prod", "Succeeded", 1),
    ]  # fmt: skip
    for step in status["steps"]:
        assert step["startedAt"] and step["finishedAt"]
    approvals = status["steps"][2]["approvals"]
    assert [(a["user"], a["justification"]) for a in approvals] == [
        ("oidc:dave@example.test", "t-promo CAB ok")
    ]
    # The identity the promotion pinned is the one of the record helm wrote on prod.
    assert spec["chart"]["identity"] == record_identity(stack, "prod", release)


def record_identity(stack: Stack, cluster: str, release: str) -> str:
    """The chart identity of the newest release record, decoded as the backend does."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "backend"))
    from kubectl_scipian.helm.identity import identity
    from scipian_backend.releases import records

    got = stack.kubectl(
        cluster, "get", "secrets", "-n", "shop", "-l", f"owner=helm,name={release}", "-o", "json"
    )
    items = sorted(
        json.loads(got.stdout)["items"], key=lambda o: int(o["metadata"]["labels"]["version"])
    )
    return identity(records.decode(records.record_of(items[-1], "secret"))["chart"])


def test_staging_fails_back_on_its_previous_revision_prod_untouched(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    admin["staging"].run("install", release, str(CHART), "-n", "shop")  # revision 1, 1.0.0
    failing = tmp_path / "fail.yaml"
    failing.write_text('failWith: "3"\n')
    args = promote_args(
        stack, release, charts["1.1.0"], "1.1.0", "--through", "dev,staging,prod",
        "--values-for", f"staging={failing}", "--timeout", "60s",
    )  # fmt: skip
    got = run_plugin(args, carol, timeout=300)
    assert got.returncode == 1, got.stderr
    rows = summary(got.stdout)
    assert [r[1] for r in rows.values()] == ["Succeeded", "Failed", "Pending"]
    assert rows["staging"][5].startswith("helm: "), got.stdout
    assert "error: promotion " in got.stderr and " failed: " in got.stderr
    # staging as the real helm reports it: the failed upgrade rolled back to 1.0.0.
    newest = history(admin["staging"], release)[-1]
    assert (newest["status"], newest["chart"]) == ("deployed", "shop-web-1.0.0")
    assert newest["description"] == "Rollback to 1"
    assert rows["staging"][2] == str(newest["revision"])
    assert history(admin["prod"], release) == []
    assert history(admin["dev"], release)[-1]["chart"] == "shop-web-1.1.0"


def test_dry_run_is_the_real_helms_state(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
) -> None:
    admin["dev"].run("install", release, str(CHART), "-n", "shop")
    admin["dev"].run("upgrade", release, str(charts["1.1.0"]), "-n", "shop")
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev,staging")
    got = run_plugin([*args, "--dry-run"], carol)
    assert got.returncode == 0, got.stderr
    listed = json.loads(
        admin["dev"].run("list", "-n", "shop", "--filter", f"^{release}$", "-o", "json").stdout
    )
    lines = got.stdout.splitlines()
    assert lines[0].startswith(f"Promotion plan for release {release!r} in namespace 'shop'")
    assert lines[1].split() == ["ENV", "REVISION", "CURRENT", "TARGET"]
    assert lines[2].split() == [
        "dev", str(listed[0]["revision"]), listed[0]["chart"], f"({listed[0]['status']})",
        "shop-web-1.2.0",
    ]  # fmt: skip
    assert lines[3].split() == ["staging", "(not", "installed)", "shop-web-1.2.0"]
    assert history(admin["staging"], release) == []
    assert len(history(admin["dev"], release)) == 2  # nothing ran


def test_no_wait_then_resume_refuses_another_chart(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "staging,prod")
    got = run_plugin([*args, "--no-wait"], carol, timeout=300)
    assert got.returncode == 3, got.stderr
    name = NAME_LINE.search(got.stderr).group(1)  # type: ignore[union-attr]
    resume = f"resume with: kubectl scipian promote --resume {name} --chart {charts['1.2.0']}"
    assert got.stderr.splitlines()[-1] == resume
    # Another chart (1.1.0) is refused, whatever the step.
    other = run_plugin(
        ["promote", "--resume", name, "--chart", str(charts["1.1.0"]), "--helm",
         stack.env["STACK_HELM"]], carol,
    )  # fmt: skip
    assert other.returncode == 1
    assert other.stderr.startswith("error: chart identity differs from the promotion's"), (
        other.stderr
    )
    assert history(admin["prod"], release) == []
    ok = run_plugin(["approve", name, "--step", "prod", "--reason", "ok"], dave(stack, tmp_path))
    assert ok.returncode == 0, ok.stderr
    done = run_plugin(
        ["promote", "--resume", name, "--chart", str(charts["1.2.0"]), "--helm",
         stack.env["STACK_HELM"]], carol, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r[1] for r in summary(done.stdout).values()] == ["Succeeded", "Succeeded"]
    assert history(admin["prod"], release)[-1]["chart"] == "shop-web-1.2.0"


def test_promotions_json_is_a_list_kubectl_reads(
    stack: Stack, carol: dict[str, str], charts: dict[str, Path], release: str
) -> None:
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev")
    got = run_plugin(args, carol, timeout=300)
    assert got.returncode == 0, got.stderr
    name = NAME_LINE.search(got.stderr).group(1)  # type: ignore[union-attr]
    listed = run_plugin(["promotions", "-o", "json"], carol)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    assert name in [p["metadata"]["name"] for p in doc["items"]]
    # The real kubectl reads it back as a list of Promotions of the management cluster.
    back = stack.kubectl("mgmt", "get", "-f", "-", "-o", "name", input=listed.stdout)
    assert f"promotion.scipian.io/{name}" in back.stdout.split()
    # One finished promotion: the bytes of the real kubectl's -o json and -o yaml (admin).
    for output in ("json", "yaml"):
        mine = run_plugin(["promotions", name, "-o", output], carol)
        theirs = stack.kubectl("mgmt", "get", "promotion", name, "-o", output)
        assert mine.stdout == theirs.stdout
    # The table: kubectl's printer columns, the same cells (AGE aside: it ticks).
    table = run_plugin(["promotions"], carol)
    theirs_table = stack.kubectl("mgmt", "get", "promotions")
    assert table.stdout.splitlines()[0].split() == theirs_table.stdout.splitlines()[0].split()
    mine_row = next(x for x in table.stdout.splitlines() if x.startswith(name + " "))
    their_row = next(x for x in theirs_table.stdout.splitlines() if x.startswith(name + " "))
    assert mine_row.split()[:7] == their_row.split()[:7]
    assert mine_row.split()[:7] == [
        name,
        release,
        "shop",
        "1.2.0",
        '["dev"]',
        "Succeeded",
        "oidc:carol@example.test",
    ]


def test_self_approval_is_one_line_and_mallory_reads_nothing(
    stack: Stack,
    carol: dict[str, str],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    """dave (release-managers) starts it and may not approve his own; carol may not approve
    prod at all (no grant: the RFC's line)."""
    initiator = {**dave(stack, tmp_path), **_helm_homes(tmp_path / "dave-helm")}
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "staging,prod")
    got = run_plugin([*args, "--no-wait"], initiator, timeout=300)
    assert got.returncode == 3, got.stderr
    name = NAME_LINE.search(got.stderr).group(1)  # type: ignore[union-attr]
    own = run_plugin(["approve", name, "--step", "prod", "--reason", "mine"], initiator)
    assert (own.returncode, own.stdout) == (1, "")
    assert own.stderr == (
        f"error: oidc:dave@example.test started promotion {name} and cannot approve it\n"
    )
    no_grant = run_plugin(["approve", name, "--step", "prod", "--reason", "x"], carol)
    assert (no_grant.returncode, no_grant.stderr) == (
        1, "Invalid authentication for provided environment.\n",
    )  # fmt: skip
    # alice (team-a) may read promotions; she may not approve prod (no grant): the RFC line.
    alice = login(stack, "alice", make_env(stack, tmp_path / "alice"))
    seen = run_plugin(["promotions", name, "-o", "json"], alice)
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["metadata"]["name"] == name
    denied = run_plugin(["approve", name, "--step", "prod", "--reason", "x"], alice)
    assert (denied.returncode, denied.stderr) == (
        1, "Invalid authentication for provided environment.\n",
    )  # fmt: skip
    # mallory (no groups) reads none: kubectl's words for RBAC's answer.
    mallory = login(stack, "mallory", make_env(stack, tmp_path / "mallory"))
    one = run_plugin(["promotions", name], mallory)
    assert (one.returncode, one.stdout) == (1, "")
    assert one.stderr == (
        f'Error from server (Forbidden): promotions.scipian.io "{name}" is forbidden: User '
        '"oidc:mallory@example.test" cannot get resource "promotions" in API group '
        '"scipian.io" at the cluster scope\n'
    )
    every = run_plugin(["promotions"], mallory)
    assert every.returncode == 1
    assert every.stderr.startswith(
        "Error from server (Forbidden): promotions.scipian.io is forbidden"
    )


def test_backend_killed_mid_chain_then_resumed(
    stack: Stack,
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    """A backend of this test's own (same mgmt cluster and provider) dies while the plugin
    waits for prod's approval: one line naming it and the resume line, exit 1; restarted on
    the same address, the approval and `--resume` finish the chain."""
    from tests.stack.backend_daemon import spawn_backend

    issuer, client = stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"]
    own = spawn_backend(issuer, client, name="t-promo")
    port = int(own.url.rsplit(":", 1)[1])
    try:
        env = login(stack, "carol", make_env(stack, tmp_path / "carol-own", own.url))
        env = {**env, **_helm_homes(tmp_path / "h")}
        args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "staging,prod")
        waiting = start_waiting(args, env)
        name = NAME_LINE.search("".join(waiting.lines)).group(1)  # type: ignore[union-attr]
        own.kill()
        assert waiting.finish(60) == ""
        tail = "".join(waiting.lines).splitlines()[-2:]
        assert waiting.proc.returncode == 1
        assert tail[0].startswith(f"error: cannot reach the Scipian backend at {own.url}")
        assert tail[1] == (
            f"resume with: kubectl scipian promote --resume {name} --chart {charts['1.2.0']}"
        )
        own = spawn_backend(issuer, client, name="t-promo", port=port)
        dave_env = login(stack, "dave", make_env(stack, tmp_path / "dave-own", own.url))
        ok = run_plugin(["approve", name, "--step", "prod", "--reason", "ok"], dave_env)
        assert ok.returncode == 0, ok.stderr
        resume = ["promote", "--resume", name, "--chart", str(charts["1.2.0"])]
        done = run_plugin([*resume, "--helm", stack.env["STACK_HELM"]], env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert [r[1] for r in summary(done.stdout).values()] == ["Succeeded", "Succeeded"]
        assert history(admin["staging"], release)[-1]["revision"] == 1  # not deployed twice
        assert history(admin["prod"], release)[-1]["chart"] == "shop-web-1.2.0"
    finally:
        own.stop()


WAITING_HELM = """#!{python}
import os, signal, sys, time
if sys.argv[1:2] != ["upgrade"]:
    os.execv(os.environ["T_REAL_HELM"], [os.environ["T_REAL_HELM"], *sys.argv[1:]])
out = os.environ["T_WRAP_OUT"]
with open(os.path.join(out, "kubeconfig-path"), "w") as f:
    f.write(os.environ["KUBECONFIG"])
def interrupted(signum, frame):
    open(os.path.join(out, "interrupted"), "w").close()
    sys.exit(130)
signal.signal(signal.SIGINT, interrupted)
open(os.path.join(out, "ready"), "w").close()
time.sleep(120)
sys.exit(3)
"""


def test_ctrl_c_stops_helm_reports_nothing_and_resume_finishes(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
    tmp_path: Path,
) -> None:
    import signal
    import sys

    from tests.helpers import wait_for

    out = tmp_path / "wrap"
    out.mkdir()
    wrapper = tmp_path / "helm"
    wrapper.write_text(WAITING_HELM.format(python=sys.executable))
    wrapper.chmod(0o755)
    env = {**carol, "T_REAL_HELM": stack.env["STACK_HELM"], "T_WRAP_OUT": str(out)}
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev")
    args[args.index("--helm") + 1] = str(wrapper)
    proc = subprocess.Popen(
        [str(venv_bin() / "kubectl-scipian"), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    try:
        wait_for("helm upgrade to run", lambda: (out / "ready").exists(), 120)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stdout == ""  # no summary: nothing claimed
    assert (out / "interrupted").exists()  # helm got the signal
    assert not Path((out / "kubeconfig-path").read_text()).exists()
    name = NAME_LINE.search(stderr).group(1)  # type: ignore[union-attr]
    assert stderr.splitlines()[-2:] == [
        "interrupted: helm was stopped; nothing was reported for this step",
        f"resume with: kubectl scipian promote --resume {name} --chart {charts['1.2.0']}",
    ]
    assert promotion(carol, name)["status"]["steps"][0]["phase"] == "Deploying"
    assert history(admin["dev"], release) == []
    done = run_plugin(
        ["promote", "--resume", name, "--chart", str(charts["1.2.0"]), "--helm",
         stack.env["STACK_HELM"]], carol, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert history(admin["dev"], release)[-1]["chart"] == "shop-web-1.2.0"


def test_helm_3_promotes_the_same_chart_identity(
    stack: Stack,
    carol: dict[str, str],
    admin: dict[str, Helm],
    charts: dict[str, Path],
    release: str,
) -> None:
    """Helm 3 loads the chart for its dry run only with a cluster at hand (the plugin uses
    a read credential of the step's environment); the identity is Helm 4's."""
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev")
    args[args.index("--helm") + 1] = stack.env["STACK_HELM3"]
    got = run_plugin(args, carol, timeout=300)
    assert got.returncode == 0, got.stderr
    name = NAME_LINE.search(got.stderr).group(1)  # type: ignore[union-attr]
    plan = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", "dev")
    helm4 = run_plugin([*plan, "--dry-run"], carol)
    assert helm4.returncode == 0, helm4.stderr
    identity = promotion(carol, name)["spec"]["chart"]["identity"]
    assert f"({identity})" in helm4.stdout.splitlines()[0]
    assert identity == record_identity(stack, "dev", release)
    assert history(admin["dev"], release)[-1]["chart"] == "shop-web-1.2.0"


STEP_UP_ENV = "t-promo-stepup"


@pytest.fixture(scope="module")
def step_up_env(stack: Stack) -> Iterator[str]:
    """dev's cluster once more, as an environment whose deploy level wants a login under
    5 s (platform-admins' grants name no environment: they cover it)."""
    from tests.stack.backend_daemon import admin_cli

    out = admin_cli(
        "register", f"--kubeconfig={stack.kubeconfig('dev')}", "--description=test",
        f"--name={STEP_UP_ENV}", "--deploy-namespace=shop", "--max-auth-age=5",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    try:
        yield STEP_UP_ENV
    finally:
        stack.kubectl("mgmt", "delete", "environment", STEP_UP_ENV, "--wait=false", check=False)


def test_a_stale_login_without_a_terminal_creates_nothing(
    stack: Stack,
    carol: dict[str, str],
    charts: dict[str, Path],
    release: str,
    step_up_env: str,
) -> None:
    import time

    time.sleep(6)  # carol's login is now older than the environment allows
    args = promote_args(stack, release, charts["1.2.0"], "1.2.0", "--through", step_up_env)
    got = run_plugin(args, carol)
    assert (got.returncode, got.stdout) == (1, "")
    assert got.stderr.splitlines() == [
        "Invalid authentication for provided environment.",
        "hint: deploy credentials need a login no older than 5s: run 'kubectl scipian login', "
        "then this command again",
    ]
    listed = json.loads(run_plugin(["promotions", "-o", "json"], carol).stdout)
    assert [p for p in listed["items"] if p["spec"]["release"] == release] == []

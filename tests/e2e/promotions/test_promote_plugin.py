"""`kubectl scipian promote|promotions|approve|cancel` (v2) through the real plugin on the
real stack: the real backend executes every step with its own Helm 4; the plugin uploads,
creates and watches (change.md §5 "The plugin"). carol promotes, dave approves prod; each
test promotes a release of its own (conftest's `release`), and asserts only on it.

The stack's grants: carol and dave (platform-admins) may deploy everywhere, dave
(release-managers) approves prod, prod needs a promotion from staging and one approval.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.conftest import history
from tests.e2e.test_plugin_deploy import login, make_env
from tests.helpers import Terminal
from tests.stack.login import run_plugin
from tests.stack.paths import venv_bin
from tests.stack.releases import CHART, package

pytestmark = pytest.mark.stack
NAME_LINE = re.compile(r"^promotion ([a-z0-9.-]+): ", re.M)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
SUMMARY_HEAD = ["ENV", "PHASE", "APPROVALS", "REVISION", "DURATION", "MESSAGE"]
# The classified reasons of change.md §5, the only ones a step or promotion may show.
CLASSIFIED = re.compile(
    r"^(timeout|rendering failed|rendered manifest differs from the approved one|"
    r"apply refused by the API server: \S+|rolled back|verification: .+|values digest mismatch|"
    r"initiator may no longer deploy to \S+|cancelled by \S+|pre-empted by \S+|"
    r"\S+ no longer verified: .+)$"
)
WAIT = 300.0  # a bound on a whole promotion (soak 0, step timeouts 60 s), not a timing


@pytest.fixture(scope="module")
def archives(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """shop-web 1.1.0 and 1.2.0 as `helm package` makes them, and "dir": the chart as a
    directory at 1.9.0."""
    out = tmp_path_factory.mktemp("plugin-charts")
    found = {v: package(Path(stack.env["STACK_HELM"]), v, out) for v in ("1.1.0", "1.2.0")}
    directory = out / "dir" / "shop-web"
    shutil.copytree(CHART, directory)
    meta = (directory / "Chart.yaml").read_text()
    (directory / "Chart.yaml").write_text(re.sub(r"(?m)^version: .*$", "version: 1.9.0", meta))
    return {**found, "dir": directory}


@pytest.fixture
def carol(stack: Stack, tmp_path: Path) -> dict[str, str]:
    """carol, logged in just now (creating a promotion needs a login under 300 s), with no
    helm on PATH: promoting a .tgz must not need one."""
    env = login(stack, "carol", make_env(stack, tmp_path / "carol"))
    return {**env, "PATH": "/usr/bin:/bin"}


def dave(stack: Stack, tmp_path: Path) -> dict[str, str]:
    return login(stack, "dave", make_env(stack, tmp_path / "dave"))


def promote_args(release: str, chart: Path | str, through: str, *more: str) -> list[str]:
    return [
        "promote", release, "-n", "shop", "--chart", str(chart), "--through", through,
        "--reason", f"t-promo {release}", "--timeout", "60s", *more,
    ]  # fmt: skip


def summary(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines and lines[0].split() == SUMMARY_HEAD, stdout
    starts = [lines[0].index(h) for h in SUMMARY_HEAD]
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = cells
    return rows


def plan_digests(stdout: str) -> dict[str, str]:
    """--dry-run's ENV / VALUES DIGEST rows."""
    lines = stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if x.split() == ["ENV", "VALUES", "DIGEST"])
    return {x.split()[0]: x.split()[1] for x in lines[head + 1 :] if x.strip()}


def name_of(stderr: str) -> str:
    found = NAME_LINE.search(stderr)
    assert found, stderr
    return found.group(1)


def promotion(env: dict[str, str], name: str) -> dict[str, Any]:
    got = run_plugin(["promotions", name, "-o", "json"], env)
    assert got.returncode == 0, got.stderr
    doc: dict[str, Any] = json.loads(got.stdout)
    return doc


def promotions_of(stack: Stack, release: str) -> list[dict[str, Any]]:
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if p["spec"]["release"] == release]


def newest(stack: Stack, helm: Any, env: str, release: str) -> dict[str, Any]:
    found = history(helm, stack.kubeconfig(env), release)
    assert found, f"no release {release} on {env}"
    return found[-1]


class Background:
    """The plugin running in the background; `lines`: its stderr so far."""

    def __init__(self, args: list[str], env: dict[str, str], until: str) -> None:
        self.proc = subprocess.Popen(
            [str(venv_bin() / "kubectl-scipian"), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith((until, "error")):
                break
        stderr = self.proc.stderr
        self.drain = threading.Thread(target=lambda: self.lines.extend(stderr), daemon=True)
        self.drain.start()

    def finish(self) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once it ended."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(WAIT)
        self.drain.join(WAIT)
        return code, out, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- bad input and retired flags: one line, exit 2, nothing created ------------------------


def test_resume_is_retired_in_one_line(stack: Stack, tmp_path: Path) -> None:
    got = run_plugin(["promote", "--resume", "t-promo-x"], make_env(stack, tmp_path / "x"))
    assert (got.returncode, got.stdout) == (2, "")
    assert got.stderr == (
        "error: --resume is retired: promotions are executed by the backend; "
        "watch one with: kubectl scipian promotions t-promo-x --watch\n"
    )


@pytest.mark.parametrize(
    ("more", "says"),
    [
        (["--version", "9.9.9"], "--version 9.9.9 does not match the chart's version 1.2.0"),
        (["--values-for", "prod=x.yaml"], "prod is not in --through"),
        (["--set-for", "dev=novalue"], "--set-for takes KEY=VALUE"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    stack: Stack, carol: dict[str, str], archives: dict[str, Path], release: str,
    more: list[str], says: str,
) -> None:  # fmt: skip
    got = run_plugin([*promote_args(release, archives["1.2.0"], "dev"), *more], carol)
    assert (got.returncode, got.stdout) == (2, "")
    assert len(got.stderr.splitlines()) == 1 and says in got.stderr, got.stderr
    assert promotions_of(stack, release) == []


def test_dry_run_uploads_nothing_and_prints_the_digests(
    stack: Stack, carol: dict[str, str], archives: dict[str, Path], release: str, tmp_path: Path
) -> None:
    values = tmp_path / "v.yaml"
    values.write_text("replicas: 1\n")
    args = promote_args(release, archives["1.2.0"], "dev,staging", "-f", str(values), "--dry-run")
    got = run_plugin(args, carol)
    assert got.returncode == 0, got.stderr
    archive = "sha256:" + hashlib.sha256(archives["1.2.0"].read_bytes()).hexdigest()
    lines = got.stdout.splitlines()
    assert lines[0].startswith(f"Promotion plan for release {release!r} in namespace 'shop'")
    assert any(line.startswith(f"archive: {archive} ") for line in lines), got.stdout
    rows = plan_digests(got.stdout)
    assert set(rows) == {"dev", "staging"} and all(DIGEST.fullmatch(d) for d in rows.values())
    assert promotions_of(stack, release) == []
    # A directory would need helm package, which a dry run does not run.
    directory = run_plugin([*promote_args(release, archives["dir"], "dev"), "--dry-run"], carol)
    assert directory.returncode == 2 and "--dry-run takes a packaged chart" in directory.stderr


# -- through the backend --------------------------------------------------------------------


def test_tgz_through_dev_and_staging_succeeds_without_any_helm_of_carols(
    stack: Stack, carol: dict[str, str], helm: Any, archives: dict[str, Path], release: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    values = tmp_path / "v.yaml"
    values.write_text("replicas: 1\n")
    args = promote_args(release, archives["1.2.0"], "dev,staging", "-f", str(values))
    planned = run_plugin([*args, "--dry-run"], carol)
    assert planned.returncode == 0, planned.stderr
    got = run_plugin(args, carol, timeout=WAIT)
    assert got.returncode == 0, got.stderr
    name = name_of(got.stderr)
    rows = summary(got.stdout)
    assert [r[1] for r in rows.values()] == ["Succeeded", "Succeeded"], got.stdout
    # A line per change on a pipe, never helm's own output.
    assert f"promotion {name}: Succeeded" in got.stderr.splitlines()
    assert "dev: Succeeded (revision 1)" in got.stderr.splitlines()
    for env in ("dev", "staging"):
        record = newest(stack, helm, env, release)
        assert (record["status"], record["chart"]) == ("deployed", "shop-web-1.2.0")
        assert rows[env][3] == str(record["revision"])
    doc = promotion(carol, name)
    archive = "sha256:" + hashlib.sha256(archives["1.2.0"].read_bytes()).hexdigest()
    assert doc["spec"]["chart"] == {"digest": archive, "name": "shop-web", "version": "1.2.0"}
    # The values digests the dry run printed are the ones the promotion recorded.
    assert doc["spec"]["valuesDigests"] == plan_digests(planned.stdout)


def test_a_chart_directory_is_packaged_by_the_users_helm(
    stack: Stack, carol: dict[str, str], helm: Any, archives: dict[str, Path], release: str
) -> None:
    args = promote_args(release, archives["dir"], "dev")
    without = run_plugin(args, carol)
    assert without.returncode == 2 and "needs helm" in without.stderr, without.stderr
    got = run_plugin([*args, "--helm", stack.env["STACK_HELM"]], carol, timeout=WAIT)
    assert got.returncode == 0, got.stderr
    assert newest(stack, helm, "dev", release)["chart"] == "shop-web-1.9.0"
    assert promotion(carol, name_of(got.stderr))["spec"]["chart"]["version"] == "1.9.0"


def test_a_failing_chart_exits_1_with_a_classified_reason(
    stack: Stack, carol: dict[str, str], helm: Any, archives: dict[str, Path], release: str
) -> None:
    args = promote_args(release, archives["1.1.0"], "dev,staging", "--set-for", "dev=failWith=3")
    got = run_plugin(args, carol, timeout=WAIT)
    assert got.returncode == 1, got.stderr
    name = name_of(got.stderr)
    rows = summary(got.stdout)
    assert [r[1] for r in rows.values()] == ["Failed", "Pending"], got.stdout
    last = got.stderr.splitlines()[-1]
    assert last.startswith(f"error: promotion {name} failed: "), got.stderr
    # The promotion's reason is its failed step's, named: "dev: rolled back".
    assert CLASSIFIED.match(last.split(" failed: dev: ", 1)[1]), last
    assert CLASSIFIED.match(rows["dev"][5]), got.stdout
    assert "Error:" not in got.stderr and "UPGRADE FAILED" not in got.stderr
    assert history(helm, stack.kubeconfig("staging"), release) == []


def test_no_wait_stops_at_the_approval_then_approve_binds_the_diff(
    stack: Stack, carol: dict[str, str], helm: Any, archives: dict[str, Path], release: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    got = run_plugin(
        [*promote_args(release, archives["1.2.0"], "staging,prod"), "--no-wait"],
        carol,
        timeout=WAIT,
    )
    assert got.returncode == 3, got.stderr
    name = name_of(got.stderr)
    assert got.stderr.splitlines()[-2:] == [
        f"waiting for approval of prod: kubectl scipian approve {name} --step prod --reason TEXT",
        f"watch: kubectl scipian promotions {name} --watch",
    ]
    assert history(helm, stack.kubeconfig("prod"), release) == []
    approver = dave(stack, tmp_path)
    # The diff, readable, with the digest an approval binds (the step's renderDigest).
    diff = run_plugin(["promotions", name, "--diff", "prod"], approver)
    assert diff.returncode == 0, diff.stderr
    head = diff.stdout.splitlines()[0]
    assert head.startswith("Diff of step prod, digest sha256:"), diff.stdout
    digest = head.rsplit(" ", 1)[1]
    step = next(s for s in promotion(carol, name)["status"]["steps"] if s["environment"] == "prod")
    assert digest == step["renderDigest"]
    assert "Deployment shop/" in diff.stdout and ": added" in diff.stdout
    # Without a terminal: --diff-digest is needed, and another digest is the backend's 409.
    approve = ["approve", name, "--step", "prod", "--reason", "t-promo CAB ok"]
    bare = run_plugin(approve, approver)
    assert (bare.returncode, bare.stdout) == (2, "") and len(bare.stderr.splitlines()) == 1
    assert "needs --diff-digest D" in bare.stderr
    stale = run_plugin([*approve, "--diff-digest", "sha256:" + "0" * 64], approver)
    assert stale.returncode == 1
    assert stale.stderr == "error: the diff changed since you read it\n", stale.stderr
    ok = run_plugin([*approve, "--diff-digest", digest], approver)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"promotion {name}: prod approved (1 of 1)"), ok.stdout
    watched = run_plugin(["promotions", name, "--watch"], carol, timeout=WAIT)
    assert watched.returncode == 0, watched.stderr
    assert [r[1] for r in summary(watched.stdout).values()] == ["Succeeded", "Succeeded"]
    assert newest(stack, helm, "prod", release)["chart"] == "shop-web-1.2.0"
    approvals = next(
        s for s in promotion(carol, name)["status"]["steps"] if s["environment"] == "prod"
    )["approvals"]
    assert [(a["user"], a["diffDigest"]) for a in approvals] == [("oidc:dave@example.test", digest)]


def test_cancel_ends_the_watching_promote_with_4(
    stack: Stack, carol: dict[str, str], helm: Any, archives: dict[str, Path], release: str
) -> None:
    running = Background(
        promote_args(release, archives["1.2.0"], "staging,prod"), carol, "waiting for approval of"
    )
    try:
        name = name_of("".join(running.lines))
        cancel = run_plugin(["cancel", name, "--reason", "t-promo not today"], carol)
        assert cancel.returncode == 0, cancel.stderr
        assert cancel.stdout.startswith(f"promotion {name}: cancel requested"), cancel.stdout
        code, stdout, stderr = running.finish()
    finally:
        running.kill()
    assert code == 4, stderr
    assert summary(stdout)["prod"][1] == "Cancelled", stdout
    last = stderr.splitlines()[-1]
    assert last.startswith(f"promotion {name} cancelled: cancelled by oidc:carol@example.test")
    assert history(helm, stack.kubeconfig("prod"), release) == []
    again = run_plugin(["promotions", name, "--watch"], carol)
    assert again.returncode == 4, again.stderr


def test_ctrl_c_detaches_and_the_promotion_goes_on(
    stack: Stack, carol: dict[str, str], archives: dict[str, Path], release: str
) -> None:
    running = Background(
        promote_args(release, archives["1.2.0"], "staging,prod"), carol, "waiting for approval of"
    )
    try:
        name = name_of("".join(running.lines))
        running.proc.send_signal(signal.SIGINT)
        code, _, stderr = running.finish()
    finally:
        running.kill()
    assert code == 130, stderr
    assert stderr.splitlines()[-3:] == [
        f"detached: promotion {name} goes on, executed by the backend",
        f"watch: kubectl scipian promotions {name} --watch",
        f"cancel: kubectl scipian cancel {name} --reason TEXT",
    ]
    assert promotion(carol, name)["status"]["phase"] == "AwaitingApproval"


def on_terminal(args: list[str], env: dict[str, str], answer: str) -> tuple[int, str]:
    """The plugin with its stdin, stdout and stderr on a terminal (a pty): everything it
    wrote, once it asks, and its exit code after `answer`."""
    with Terminal(args, env, WAIT) as term:
        if term.read_until(b"[y/N]"):
            term.type(answer)
        code = term.finish()
    return code, term.text.replace("\r\n", "\n")


def test_approve_on_a_terminal_shows_the_diff_and_asks(
    stack: Stack, carol: dict[str, str], archives: dict[str, Path], release: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    got = run_plugin(
        [*promote_args(release, archives["1.2.0"], "staging,prod"), "--no-wait"],
        carol,
        timeout=WAIT,
    )
    assert got.returncode == 3, got.stderr
    name = name_of(got.stderr)
    approver = dave(stack, tmp_path)
    args = ["approve", name, "--step", "prod", "--reason", "t-promo CAB ok"]
    code, text = on_terminal(args, approver, "n")
    assert code == 1 and "not approved" in text, text
    assert text.startswith("Diff of step prod, digest sha256:"), text
    step = next(s for s in promotion(carol, name)["status"]["steps"] if s["environment"] == "prod")
    assert step["approvals"] == [] and step["renderDigest"] in text
    code, text = on_terminal(args, approver, "y")
    assert code == 0, text
    assert f"promotion {name}: prod approved (1 of 1)" in text
    step = next(s for s in promotion(carol, name)["status"]["steps"] if s["environment"] == "prod")
    assert [a["diffDigest"] for a in step["approvals"]] == [step["renderDigest"]]


def test_on_a_terminal_the_table_is_redrawn_in_place(
    stack: Stack, carol: dict[str, str], archives: dict[str, Path], release: str
) -> None:
    code, text = on_terminal(promote_args(release, archives["1.2.0"], "dev"), carol, "")
    assert code == 0, text
    assert "\x1b[2K" in text and "\x1b[" in text.split("\x1b[2K", 1)[1], text  # cleared, moved up
    assert "dev: Deploying" not in text  # no line per change: the table instead
    lines = [x for x in text.splitlines() if x.startswith("dev ")]
    assert lines and lines[-1].split()[:2] == ["dev", "Succeeded"], text

"""The pure parts of the plugin's promotions (v2: executed by the backend): flags, the
chart archive and its digest, values and their digests, --dry-run's plan, the printers
(diff, record, summary), the watch's lines and exit codes; and the bad input refused before
any network (one line, exit 2)."""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian import cli
from kubectl_scipian.context import Context
from kubectl_scipian.errors import BackendUnreachable, UsageError
from kubectl_scipian.promotions import archive, flags, inputs, printers, progress, promote, watch

DATA = Path(__file__).parent.parent / "data" / "promotions"
DIGEST = "sha256:" + "a" * 64


def chart_tgz(name: str = "shop-web", version: str = "1.2.0", extra: bytes = b"") -> bytes:
    """A chart archive as `helm package` lays it out: NAME/Chart.yaml, NAME/templates/..."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in (
            (f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()),
            (f"{name}/templates/cm.yaml", b"kind: ConfigMap\n" + extra),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def opts(**given: Any) -> argparse.Namespace:
    base: dict[str, Any] = dict(
        release="web", namespace="shop", chart="c.tgz", version=None, through="dev,prod",
        values=[], values_for=[], set=[], set_for=[], soak=None, timeout=None,
    )  # fmt: skip
    return argparse.Namespace(**{**base, **given})


def context(tmp_path: Path, interactive: bool = False) -> tuple[Context, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    # Port 9 (discard) is never contacted: bad input is refused before any network.
    env = {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), "SCIPIAN_BACKEND_URL": "http://127.0.0.1:9"}
    return Context(out, err, env, interactive=interactive), out, err


# -- flags --------------------------------------------------------------------------------


def test_request_keeps_the_flags_and_groups_per_environment() -> None:
    got = flags.request_of(
        opts(
            values=["a.yaml"],
            values_for=["prod=p.yaml", "prod=q.yaml"],
            set=["x=1"],
            set_for=["dev=y=2"],
            soak="1m30s",
            timeout="2m",
        )
    )
    assert got.through == ["dev", "prod"]
    assert got.values_for == {"prod": ["p.yaml", "q.yaml"]}
    assert got.sets_for == {"dev": ["y=2"]}
    assert (got.soak_seconds, got.timeout_seconds, got.version) == (90, 120, "")


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"through": "dev,,prod"}, "'' is not an environment id"),
        ({"through": "dev,dev"}, "names an environment twice"),
        ({"values_for": ["staging=x.yaml"]}, "staging is not in --through"),
        ({"values_for": ["dev"]}, "--values-for takes ENV=FILE"),
        ({"set_for": ["dev=noequals"]}, "--set-for takes KEY=VALUE"),
        ({"set": ["=1"]}, "--set takes KEY=VALUE"),
        ({"timeout": "5s"}, "--timeout must be between"),
        ({"soak": "2x"}, "invalid duration"),
        ({"chart": None}, "needs --chart"),
        ({"release": "Web"}, "not a valid release name"),
    ],
)
def test_bad_flags_are_one_line(given: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError, match=says.replace("(", r"\(")):
        flags.request_of(opts(**given))


def test_names_and_digests_checked() -> None:
    assert flags.check_digest(DIGEST) == DIGEST
    for bad in ("sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 64):
        with pytest.raises(UsageError):
            flags.check_digest(bad)
    for bad in ("../x", "a/b", "A", "x" * 64, ""):
        with pytest.raises(UsageError):
            flags.check_name(bad)


# -- the archive --------------------------------------------------------------------------


def test_archive_digest_name_and_version_come_from_its_bytes() -> None:
    data = chart_tgz()
    got = archive.archive_of(data, "c.tgz")
    assert (got.name, got.version) == ("shop-web", "1.2.0")
    assert got.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert archive.archive_of(chart_tgz(extra=b"x"), "c.tgz").digest != got.digest


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"not gzip", "not a gzip archive"),
        (gzip.compress(b"not tar" * 100, mtime=0), "not a tar archive"),
        (gzip.compress(b"\0" * (archive.MAX_UNPACKED + 1), mtime=0), "decompressed"),
        (b"\x1f\x8b" + b"\0" * archive.MAX_ARCHIVE, "the backend takes"),
    ],
    ids=["not-gzip", "not-tar", "bomb", "too-large"],
)
def test_archives_the_backend_would_refuse_are_refused_first(data: bytes, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        archive.archive_of(data, "c.tgz")


def test_an_archive_without_a_top_level_chart_yaml_is_refused() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("Chart.yaml")  # not under CHART/
        info.size = 4
        tar.addfile(info, io.BytesIO(b"a: b"))
    with pytest.raises(UsageError, match=r"no CHART/Chart\.yaml"):
        archive.archive_of(buf.getvalue(), "c.tgz")


# -- values -------------------------------------------------------------------------------


def request_with(tmp_path: Path, **given: Any) -> flags.Request:
    (tmp_path / "all.yaml").write_text("replicas: 1\n")
    (tmp_path / "prod.yaml").write_text("replicas: 3\n")
    return flags.request_of(opts(**given))


def test_body_carries_values_and_sets_per_key(tmp_path: Path) -> None:
    request = request_with(
        tmp_path,
        values=[str(tmp_path / "all.yaml")],
        values_for=[f"prod={tmp_path / 'prod.yaml'}"],
        set=["a=1"],
        set_for=["prod=b=2"],
    )
    body = inputs.body_parts(inputs.inputs_of(request))
    assert body["values"] == {
        "*": [{"name": "all.yaml", "contentBase64": base64.b64encode(b"replicas: 1\n").decode()}],
        "prod": [
            {"name": "prod.yaml", "contentBase64": base64.b64encode(b"replicas: 3\n").decode()}
        ],
    }
    assert body["set"] == {"*": ["a=1"], "prod": ["b=2"]}
    assert "values" not in inputs.body_parts(inputs.inputs_of(request_with(tmp_path)))


def test_values_over_the_create_routes_bound_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a" * (inputs.MAX_BASE64 * 3 // 4 + 10))  # base64 grows it by 4/3
    request = flags.request_of(opts(values=[str(big)]))
    with pytest.raises(UsageError, match="the backend takes"):
        inputs.body_parts(inputs.inputs_of(request))


def test_a_values_file_name_the_backend_refuses_is_refused_first(tmp_path: Path) -> None:
    odd = tmp_path / "my values.yaml"
    odd.write_text("a: 1\n")
    with pytest.raises(UsageError, match="its name must match"):
        inputs.inputs_of(flags.request_of(opts(values=[str(odd)])))


def test_values_digest_per_step_in_order(tmp_path: Path) -> None:
    request = request_with(
        tmp_path, values=[str(tmp_path / "all.yaml")], values_for=[f"prod={tmp_path / 'prod.yaml'}"]
    )
    given = inputs.inputs_of(request)
    got = inputs.digests(given, ["dev", "prod"])
    assert got["dev"] != got["prod"]
    prod = inputs.step_inputs(given, "prod")
    assert [n for n, _ in prod.files] == ["all.yaml", "prod.yaml"]  # "*" first
    swapped = inputs.StepInputs(list(reversed(prod.files)), prod.sets)
    assert inputs.inputs_digest(swapped) != got["prod"]  # order is part of what runs


def test_values_digest_is_the_backends() -> None:
    """--dry-run prints the digests the promotion records: the backend's own function
    (promotions/values.py) must agree on the same inputs."""
    from scipian_backend.promotions import values

    files = [("a.yaml", b"x: 1\n"), ("b.yaml", b"\xc3\xa9: 2\n")]
    sets = ["k=v", "image.tag=1.2", "\u00e9=1"]
    theirs = values.inputs_digest(values.StepInputs(files=files, sets=sets))
    assert inputs.inputs_digest(inputs.StepInputs(files, sets)) == theirs


def test_dry_run_plan_names_archive_and_values_digests(tmp_path: Path) -> None:
    request = request_with(tmp_path, values=[str(tmp_path / "all.yaml")])
    chart = archive.archive_of(chart_tgz(), "c.tgz")
    digests = inputs.digests(inputs.inputs_of(request), request.through)
    text = promote.plan_text(request, chart, digests)
    assert f"archive: {chart.digest}" in text
    assert "chart shop-web-1.2.0 through dev -> prod" in text
    for env in ("dev", "prod"):
        assert f"{env}   " in text and digests[env] in text


# -- bad input before any network ---------------------------------------------------------


def test_resume_is_one_line_exit_2(tmp_path: Path) -> None:
    ctx, out, err = context(tmp_path)
    assert cli.run(["promote", "--resume", "shop-web-x7k2p"], ctx) == 2
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        "error: --resume is retired: promotions are executed by the backend; "
        "watch one with: kubectl scipian promotions shop-web-x7k2p --watch"
    ]


def test_dry_run_of_a_directory_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: c\nversion: 1.0.0\n")
    ctx, out, err = context(tmp_path)
    argv = ["promote", "web", "--chart", str(chart), "--through", "dev", "--dry-run"]
    assert cli.run(argv, ctx) == 2
    assert "--dry-run takes a packaged chart (.tgz)" in err.getvalue()
    assert len(err.getvalue().splitlines()) == 1 and out.getvalue() == ""


def test_dry_run_of_a_tgz_needs_no_backend_and_no_helm(tmp_path: Path) -> None:
    tgz = tmp_path / "shop-web-1.2.0.tgz"
    tgz.write_bytes(chart_tgz())
    ctx, out, err = context(tmp_path)
    ctx.environ = {**ctx.environ, "PATH": str(tmp_path)}  # no helm anywhere
    argv = ["promote", "web", "--chart", str(tgz), "--through", "dev", "--dry-run"]
    assert cli.run([*argv, "--version", "1.2.0"], ctx) == 0, err.getvalue()
    assert "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest() in out.getvalue()
    assert cli.run([*argv, "--version", "9.9.9"], ctx) == 2
    assert "--version 9.9.9 does not match the chart's version 1.2.0" in err.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["approve", "shop-web-x7k2p", "--step", "prod", "--reason", "ok"],
        ["approve", "shop-web-x7k2p", "--step", "prod", "--reason", "ok", "--diff-digest", "x"],
        ["approve", "../x", "--step", "prod", "--reason", "ok", "--diff-digest", DIGEST],
        ["cancel", "shop-web-x7k2p"],
        ["promotions", "--diff", "prod"],
        ["promotions", "x", "--diff", "Prod"],
    ],
    ids=lambda a: " ".join(a[:4]),
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, argv: list[str]) -> None:
    ctx, out, err = context(tmp_path)
    assert cli.run(argv, ctx) == 2
    assert out.getvalue() == "" and len(err.getvalue().splitlines()) == 1, err.getvalue()


def test_approve_without_a_terminal_says_where_the_digest_comes_from(tmp_path: Path) -> None:
    ctx, _, err = context(tmp_path)
    cli.run(["approve", "shop-web-x7k2p", "--step", "prod", "--reason", "ok"], ctx)
    assert "needs --diff-digest D" in err.getvalue()
    assert "kubectl scipian promotions shop-web-x7k2p --diff prod" in err.getvalue()


# -- printers -----------------------------------------------------------------------------

DIFF = {
    "environment": "prod",
    "digest": DIGEST,
    "objects": [
        {"kind": "ConfigMap", "namespace": "shop", "name": "cfg", "change": "changed",
         "hook": False, "keys": {"added": ["b"], "removed": [], "changed": ["a"]}},
        {"kind": "Deployment", "namespace": "shop", "name": "web", "change": "changed",
         "hook": False, "images": [{"container": "web", "old": "web:1.1", "new": "web:1.2"}],
         "replicas": {"old": 1, "new": 3}, "fields": ["spec.template.spec.containers[0].env"]},
        {"kind": "Secret", "namespace": "shop", "name": "creds", "change": "changed",
         "hook": False, "keys": {"added": ["leak"], "removed": [], "changed": []}},
        {"kind": "Job", "namespace": "shop", "name": "smoke\x1b[2J", "change": "added",
         "hook": True},
    ],
}  # fmt: skip


def test_diff_text_is_readable_and_shows_no_secret_detail() -> None:
    text = printers.diff_text(DIFF)
    assert text.splitlines() == [
        f"Diff of step prod, digest {DIGEST}",
        "ConfigMap shop/cfg: changed",
        "    keys: added b; changed a",
        "Deployment shop/web: changed",
        "    image web: web:1.1 -> web:1.2",
        "    replicas: 1 -> 3",
        "    fields: spec.template.spec.containers[0].env",
        "Secret shop/creds: present",
        "Job shop/smoke\\x1b[2J: added (hook)",
    ]
    assert "leak" not in text


def test_diff_text_of_no_change() -> None:
    assert "(no changes)" in printers.diff_text({"environment": "dev", "digest": DIGEST})


def promotion(*steps: dict[str, Any], phase: str = "Running", rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {"name": "web-x7k2p", "resourceVersion": rv,
                     "creationTimestamp": "2026-12-07T08:00:00Z"},
        "spec": {"release": "web", "namespace": "shop",
                 "through": [s["environment"] for s in steps],
                 "chart": {"digest": DIGEST, "name": "shop-web", "version": "1.2.0"},
                 "valuesDigests": {"prod": "sha256:" + "b" * 64},
                 "initiator": {"user": "oidc:carol@example.test"}, "justification": "CHG-1"},
        "status": {"phase": phase, "executedBy": "backend-0", "steps": list(steps)},
    }  # fmt: skip


def step(env: str, phase: str, **more: Any) -> dict[str, Any]:
    return {"environment": env, "phase": phase, "approvalsRequired": 0, "approvals": [], **more}


def test_describe_names_digests_approvals_and_the_executing_replica() -> None:
    approval = {"user": "oidc:dave@example.test", "time": "T", "justification": "ok",
                "diffDigest": DIGEST}  # fmt: skip
    promo = promotion(
        step("dev", "Succeeded", revision=2),
        step("prod", "Deploying", approvalsRequired=1, approvals=[approval],
             renderDigest=DIGEST),
    )  # fmt: skip
    text = printers.describe(promo, datetime(2026, 12, 7, tzinfo=timezone.utc))
    for part in (
        f"Chart:       shop-web-1.2.0 ({DIGEST})",
        "Values:      prod sha256:" + "b" * 64,
        f"Diff:        prod {DIGEST}",
        "Approved:    prod by oidc:dave@example.test at T: ok",
        "Executed by: backend-0",
    ):
        assert part in text, text
    rows = printers.summary_table(promo).splitlines()
    assert rows[0].split() == printers.SUMMARY
    assert rows[2].split()[:3] == ["prod", "Deploying", "1/1"]


def test_a_real_promotion_prints_as_kubectl_does() -> None:
    """tests/data/promotions/promotion.json: a promotion as the backend returned it
    (kubectl's `get promotion -o json` printed the same bytes)."""
    real = json.loads((DATA / "promotion.json").read_text())
    assert printers.structured(real, "json") == (DATA / "promotion.json").read_text()


# -- the watch: lines and exit codes --------------------------------------------------------


def test_change_lines_one_per_change_with_the_backends_reason() -> None:
    first = promotion(step("dev", "Deploying"), step("prod", "Pending"))
    assert progress.change_lines("p", {}, first) == ["dev: Deploying"]
    seen = progress.state_of(first)
    assert progress.change_lines("p", seen, first) == []
    failed = promotion(
        step("dev", "Failed", message="verification: pod web-1 restarted"),
        step("prod", "Pending"),
        phase="Failed",
    )
    failed["status"]["message"] = "verification: pod web-1 restarted"
    assert progress.change_lines("p", seen, failed) == [
        "dev: Failed (verification: pod web-1 restarted)",
        "promotion p: Failed: verification: pod web-1 restarted",
    ]
    waiting = promotion(
        step("dev", "Succeeded", revision=4),
        step("prod", "AwaitingApproval", approvalsRequired=1),
        phase="AwaitingApproval",
    )
    assert progress.change_lines("p", seen, waiting) == [
        "dev: Succeeded (revision 4)",
        "prod: AwaitingApproval (approvals 0/1)",
    ]


def test_change_lines_escape_control_characters() -> None:
    promo = promotion(step("dev", "Failed", message="timeout\x1b[2J\nforged: Succeeded"))
    assert progress.change_lines("p", {}, promo) == [
        "dev: Failed (timeout\\x1b[2J forged: Succeeded)"
    ]


@pytest.mark.parametrize(
    ("phase", "code"),
    [("Succeeded", 0), ("Failed", 1), ("Cancelled", 4), ("Running", None),
     ("AwaitingApproval", None), ("", None)],
)  # fmt: skip
def test_exit_codes(phase: str, code: int | None) -> None:
    assert watch.exit_code(promotion(step("dev", "Pending"), phase=phase)) == code


class Answers:
    """The long poll's answers in order (then what `last` raises)."""

    def __init__(self, answers: list[dict[str, Any]], last: BaseException | None = None) -> None:
        self.answers = answers
        self.last = last
        self.asked: list[str] = []

    def watch(self, name: str, rv: str) -> dict[str, Any]:
        self.asked.append(rv)
        if not self.answers:
            assert self.last is not None
            raise self.last
        return self.answers.pop(0)


def follow(start: dict[str, Any], answers: Answers, no_wait: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    _, code = watch.follow(
        answers,  # type: ignore[arg-type]
        start,
        progress.Progress(out, live=False),
        no_wait=no_wait,
        clock=lambda: 0.0,
        sleep=lambda _: None,
    )
    return code, out.getvalue()


def test_follow_asks_from_the_last_resource_version_until_finished() -> None:
    start = promotion(step("dev", "Pending"), rv="10")
    answers = Answers([
        promotion(step("dev", "Deploying"), rv="11"),
        promotion(step("dev", "Deploying"), rv="11"),  # the poll's wait ended unchanged
        promotion(step("dev", "Succeeded", revision=1), phase="Succeeded", rv="12"),
    ])  # fmt: skip
    code, text = follow(start, answers)
    assert code == 0 and answers.asked == ["10", "11", "11"]
    assert text.splitlines() == [
        "dev: Deploying", "dev: Succeeded (revision 1)", "promotion web-x7k2p: Succeeded",
    ]  # fmt: skip


def test_follow_no_wait_stops_at_an_approval_with_3() -> None:
    start = promotion(step("dev", "Succeeded"), step("prod", "AwaitingApproval",
                      approvalsRequired=1), phase="AwaitingApproval")  # fmt: skip
    code, text = follow(start, Answers([]), no_wait=True)
    assert code == 3
    assert "kubectl scipian approve web-x7k2p --step prod --reason TEXT" in text
    assert "watch: kubectl scipian promotions web-x7k2p --watch" in text


def test_follow_waits_through_an_approval_without_no_wait() -> None:
    start = promotion(step("prod", "AwaitingApproval", approvalsRequired=1))
    answers = Answers([promotion(step("prod", "Cancelled"), phase="Cancelled", rv="2")])
    assert follow(start, answers)[0] == 4


def test_ctrl_c_detaches_with_130_and_says_how_to_watch_or_cancel() -> None:
    code, text = follow(promotion(step("dev", "Deploying")), Answers([], KeyboardInterrupt()))
    assert code == 130
    assert text.splitlines()[-3:] == [
        "detached: promotion web-x7k2p goes on, executed by the backend",
        "watch: kubectl scipian promotions web-x7k2p --watch",
        "cancel: kubectl scipian cancel web-x7k2p --reason TEXT",
    ]


def test_a_backend_gone_mid_watch_is_1_with_the_watch_line() -> None:
    gone = BackendUnreachable("cannot reach the Scipian backend at https://b (refused)")
    code, text = follow(promotion(step("dev", "Deploying")), Answers([], gone))
    assert (
        code == 1 and text.splitlines()[-1] == "watch: kubectl scipian promotions web-x7k2p --watch"
    )


def test_live_table_is_redrawn_in_place_and_stays_below_a_hint() -> None:
    out = io.StringIO()
    live = progress.Progress(out, live=True)
    live.update(promotion(step("dev", "Deploying")))
    first = out.getvalue()
    assert first.startswith("\r\x1b[2KENV ") and first.count("\n") == 2
    live.update(promotion(step("dev", "Succeeded", revision=1), phase="Succeeded"))
    second = out.getvalue()[len(first) :]
    assert second.startswith(progress.up(2) + "\r"), second  # over the same two lines
    live.say("waiting for approval of prod: ...")
    tail = out.getvalue().split("waiting for approval of prod: ...\n", 1)[1]
    assert "ENV " in tail and "Succeeded" in tail  # the table again, below the hint


def test_awaiting_is_the_first_step_not_succeeded() -> None:
    ahead = promotion(step("staging", "Deploying"), step("prod", "AwaitingApproval"))
    assert watch.awaiting(ahead) is None
    assert follow(ahead, Answers([], KeyboardInterrupt()), no_wait=True)[0] == 130
    at = promotion(step("staging", "Succeeded"), step("prod", "AwaitingApproval"))
    assert watch.awaiting(at) == "prod"


@pytest.mark.parametrize("name", ["--help", "a/b", "x\x1b[2J", "", None, "x" * 64])
def test_a_promotion_name_from_the_backend_is_checked_before_use(name: object) -> None:
    """It goes into URL paths and the printed watch/cancel lines."""
    from kubectl_scipian.errors import BackendError

    with pytest.raises(BackendError):
        watch.checked_name({"metadata": {"name": name}})
    assert watch.checked_name({"metadata": {"name": "web-x7k2p"}}) == "web-x7k2p"

"""The pure parts of `helm rollback`: the plan, helm's version and command line, the
environment helm gets, the backend's rollback body and what it records."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian.helm import rollback, runner
from scipian_backend.audit.events import Series, event_body
from scipian_backend.audit.records import Record
from scipian_backend.errors import BadRequest
from scipian_backend.releases.rollbacks import RollbackReport, outcome_of, rollback_report


def rel(version: int, chart_version: str, status: str = "superseded") -> dict[str, Any]:
    return {
        "version": version,
        "info": {"status": status},
        "chart": {"metadata": {"name": "web", "version": chart_version}},
    }


HISTORY = [rel(1, "1.0.0"), rel(2, "1.1.0"), rel(3, "1.2.0", "deployed")]


def test_plan_defaults_to_the_previous_revision() -> None:
    plan = rollback.plan_of("web", "shop", HISTORY, 0)
    assert plan == rollback.Plan("web", "shop", 3, "web-1.2.0", "deployed", 2, "web-1.1.0")
    assert rollback.plan_text("dev", plan) == (
        "Rollback plan for release 'web' in namespace 'shop' on dev: revision 3 "
        "(web-1.2.0, deployed) -> revision 2 (web-1.1.0)\n"
    )


def test_plan_to_a_named_or_missing_revision() -> None:
    assert rollback.plan_of("web", "shop", HISTORY, 1).target_chart == "web-1.0.0"  # type: ignore[union-attr]
    missing = rollback.plan_of("web", "shop", HISTORY, 9)
    assert missing is not None and (missing.target, missing.target_chart) == (9, None)
    assert "revision 9 (not in the release's history)" in rollback.plan_text("dev", missing)
    assert rollback.plan_of("web", "shop", [], 0) is None
    only = rollback.plan_of("web", "shop", [rel(1, "1.0.0", "deployed")], 0)
    assert only is not None and only.target == 0  # refused by the command: helm would fail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v4.3", (4, 3)),
        ("v3.22.1", (3, 22)),
        ("v3.14.0-rc.1", (3, 14)),
        ("3.15.2+g1234", (3, 15)),
        ("", None),
        ("version.BuildInfo{}", None),
    ],
)
def test_parse_version(text: str, expected: tuple[int, int] | None) -> None:
    assert runner.parse_version(text) == expected


def test_helm_argv_names_the_planned_revision() -> None:
    plan = rollback.Plan("web", "shop", 3, "", "", 2, None)
    opts = argparse.Namespace(wait=True, timeout="2m0s")
    assert rollback.helm_argv("/bin/helm", opts, plan) == [
        "/bin/helm", "rollback", "-n", "shop", "--wait", "--timeout", "2m0s", "--", "web", "2",
    ]  # fmt: skip
    bare = argparse.Namespace(wait=False, timeout=None)
    assert rollback.helm_argv("helm", bare, plan) == [
        "helm", "rollback", "-n", "shop", "--", "web", "2",
    ]  # fmt: skip


def test_helm_environ_drops_helms_connection_settings() -> None:
    env = runner.helm_environ(
        {"PATH": "/bin", "KUBECONFIG": "/home/a/.kube/config", "HELM_KUBETOKEN": "x",
         "HELM_KUBECONTEXT": "other", "HELM_NAMESPACE": "kube-system", "HELM_DRIVER": "secret"},
        Path("/tmp/p/kubeconfig"),
    )  # fmt: skip
    assert env == {"PATH": "/bin", "KUBECONFIG": "/tmp/p/kubeconfig", "HELM_DRIVER": "secret"}


def test_private_kubeconfig_is_private_and_removed(tmp_path: Path) -> None:
    kubeconfig = runner.private_kubeconfig('{"kind": "Config"}')
    with pytest.raises(RuntimeError), kubeconfig as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        seen = path
        raise RuntimeError("helm failed")
    assert not seen.exists() and not seen.parent.exists()


GOOD = {"justification": "hotfix 1", "fromRevision": 3, "toRevision": 2, "phase": "started"}


def test_rollback_report_accepts_both_phases() -> None:
    assert rollback_report(GOOD) == RollbackReport("hotfix 1", 3, 2, "started", None)
    done = rollback_report({**GOOD, "phase": "finished", "helmExitCode": 1})
    assert done.helm_exit_code == 1


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "extra": 1},
        {**GOOD, "phase": "done"},
        {**GOOD, "fromRevision": 0},
        {**GOOD, "toRevision": True},
        {**GOOD, "toRevision": "2"},
        {**GOOD, "helmExitCode": 0},  # only when finished
        {**GOOD, "phase": "finished"},  # no exit code
        {**GOOD, "phase": "finished", "helmExitCode": 256},
        {**GOOD, "justification": "two\nlines"},
        {k: v for k, v in GOOD.items() if k != "justification"},
    ],
)
def test_rollback_report_refuses(body: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        rollback_report(body)


@pytest.mark.parametrize("value", [True, False])
def test_rollback_report_refuses_break_glass(value: bool) -> None:
    """Version 2: a gated rollback is a promotion (change.md §7); the record takes no
    break-glass, true or false, and says where to go instead."""
    with pytest.raises(BadRequest, match="rollbackTo and breakGlass"):
        rollback_report({**GOOD, "breakGlass": value})


def test_outcome_reads_what_happened() -> None:
    report = RollbackReport("r", 3, 2, "finished", 0)
    back = {"version": 4, "info": {"status": "deployed", "description": "Rollback to 2"}}
    assert outcome_of(report, back) == {
        "revision": 4, "status": "deployed", "description": "Rollback to 2", "rolledBack": True,
    }  # fmt: skip
    other = {"version": 4, "info": {"status": "deployed", "description": "Rollback to 1"}}
    assert outcome_of(report, other)["rolledBack"] is False
    unchanged = {"version": 3, "info": {"status": "deployed", "description": "Upgrade complete"}}
    assert outcome_of(report, unchanged)["rolledBack"] is False
    assert outcome_of(report, None)["revision"] is None


def test_a_failed_rollback_is_a_warning_event() -> None:
    rec = Record(
        event="rollback",
        request_id="rid-1",
        outcome="finished",
        environment="dev",
        user="oidc:alice",
        level="deploy",
        justification="hotfix 1",
        rollback={
            "release": "shop/web",
            "fromRevision": 3,
            "toRevision": 9,
            "helmExitCode": 1,
            "result": outcome_of(RollbackReport("hotfix 1", 3, 9, "finished", 1), None),
        },
    )
    body = event_body(Series(rec, "uid-1"), "uid-1")
    assert (body["reason"], body["type"]) == ("ReleaseRollbackFailed", "Warning")
    assert "from revision 3 to 9: helm exit code 1" in str(body["message"])
    assert '"rollback":{"release":"shop/web"' in rec.line()


def test_the_report_takes_json_integers_as_the_published_schema_does() -> None:
    # JSON Schema's "integer" includes 2.0; the fuzzer sends such numbers.
    report = rollback_report(
        {
            "justification": "x",
            "fromRevision": 2.0,
            "toRevision": 1,
            "phase": "finished",
            "helmExitCode": 0.0,
        }
    )
    assert (report[1], report[2], report[4]) == (2, 1, 0)
    for bad in (
        {"fromRevision": 2.5},
        {"fromRevision": True},
        {"phase": "started", "helmExitCode": 0},
        {"phase": "started", "helmExitCode": None},
        {"helmExitCode": 256},
    ):
        doc = {
            "justification": "x",
            "fromRevision": 2,
            "toRevision": 1,
            "phase": "finished",
            "helmExitCode": 1,
            **bad,
        }
        with pytest.raises(BadRequest):
            rollback_report(doc)


def test_a_gated_rollback_is_a_one_step_promotion_body() -> None:
    plan = rollback.plan_of("web", "shop", HISTORY, 1)
    assert plan is not None
    assert rollback.promotion_body("prod", plan, "INC-1 bad release", False) == {
        "release": "web",
        "namespace": "shop",
        "rollbackTo": 1,
        "through": ["prod"],
        "justification": "INC-1 bad release",
    }
    glass = rollback.promotion_body("prod", plan, "INC-1", True)
    assert glass["breakGlass"] is True and "chart" not in glass

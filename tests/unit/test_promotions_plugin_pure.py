"""The pure parts of promotions: flags, chart identity, values digests, the step loop's
helm command line, and the printers.

tests/data/promotions/charts.json holds the `chart` of real `helm install --dry-run=client
-o json` runs of tests/charts/shop-web 1.0.0, by Helm 4 (v4.3) and Helm 3 (v3.22), from the
directory and from its `helm package` .tgz (captured from the stack's helms).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from kubectl_scipian.errors import UsageError
from kubectl_scipian.helm.identity import identity
from kubectl_scipian.promotions import flags, plan, printers, steps

DATA = Path(__file__).parent.parent / "data" / "promotions"


def charts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = json.loads((DATA / "charts.json").read_text())
    return found


def test_helm_4_stamps_modtimes_that_differ_between_a_directory_and_its_package() -> None:
    got = charts()
    dir_times = {t["modtime"] for t in got["helm4-dir"]["templates"]}
    tgz_times = {t["modtime"] for t in got["helm4-tgz"]["templates"]}
    assert dir_times and tgz_times and dir_times != tgz_times
    assert all("modtime" not in t for t in got["helm3-dir"]["templates"])


def test_identity_is_the_same_for_both_helms_and_both_forms() -> None:
    found = {name: identity(chart) for name, chart in charts().items()}
    assert len(set(found.values())) == 1, found
    assert next(iter(found.values())).startswith("sha256:")


def test_identity_changes_with_the_content() -> None:
    chart = charts()["helm4-dir"]
    base = identity(chart)
    changed = json.loads(json.dumps(chart))
    changed["values"]["replicas"] = 2
    assert identity(changed) != base
    renamed = json.loads(json.dumps(chart))
    renamed["metadata"]["version"] = "1.0.1"
    assert identity(renamed) != base


def test_the_backend_computes_the_same_identity() -> None:
    """The backend's function (backend/scipian_backend/releases/identity.py) on the same
    real charts, and on variants: both sides must agree byte for byte."""
    from scipian_backend.releases.identity import chart_identity

    for chart in charts().values():
        variants = [chart, {**chart, "files": [{"name": "README.md", "data": "eA==",
                                                 "modtime": "2026-01-01T00:00:00Z"}]},
                    {**chart, "templates": list(reversed(chart["templates"]))},
                    {**chart, "values": {}}]  # fmt: skip
        for variant in variants:
            assert identity(variant) == chart_identity(variant)


def test_chart_of_a_dry_run() -> None:
    chart = charts()["helm3-tgz"]
    got = plan.chart_of(json.dumps({"name": "x", "chart": chart}))
    assert (got.name, got.version, got.identity) == ("shop-web", "1.0.0", identity(chart))
    with pytest.raises(plan.ChartError):
        plan.chart_of("Error: nothing")


def options(**given: Any) -> argparse.Namespace:
    base: dict[str, Any] = {
        "release": "shop-web", "namespace": "shop", "chart": "c", "version": "1.0.0",
        "through": "dev,staging,prod", "values": [], "values_for": [], "set": [],
        "soak": None, "timeout": None, "dry_run": False, "resume": None,
    }  # fmt: skip
    base.update(given)
    return argparse.Namespace(**base)


def test_a_good_request() -> None:
    got = flags.request_of(
        options(values=["a.yaml"], values_for=["prod=p.yaml", "prod=q.yaml"], soak="1m30s")
    )
    assert got.through == ["dev", "staging", "prod"]
    assert got.values_for == {"prod": ["p.yaml", "q.yaml"]}
    assert (got.soak_seconds, got.timeout_seconds) == (90, 300)
    assert plan.values_of(got, "prod") == ["a.yaml", "p.yaml", "q.yaml"]
    assert plan.values_of(got, "dev") == ["a.yaml"]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"through": None}, "needs --through"),
        ({"through": "dev,,prod"}, "'' is not an environment id"),
        ({"through": "dev,Prod"}, "'Prod' is not an environment id"),
        ({"through": "dev,dev"}, "names an environment twice"),
        ({"through": ",".join(f"e{i}" for i in range(11))}, "at most 10"),
        ({"values_for": ["prod"]}, "takes ENV=FILE"),
        ({"values_for": ["qa=x.yaml"]}, "qa is not in --through"),
        ({"soak": "5 minutes"}, 'invalid duration "5 minutes"'),
        ({"soak": "25h"}, "--soak is longer"),
        ({"timeout": "10s"}, "between 30s and 3600s"),
        ({"release": None}, "needs RELEASE"),
        ({"release": "Shop"}, "not a valid release name"),
        ({"namespace": "a_b"}, "not a valid namespace"),
        ({"chart": None}, "needs --chart"),
        ({"version": None}, "needs --version"),
    ],
)
def test_bad_requests_are_one_line(given: dict[str, Any], says: str) -> None:
    with pytest.raises(UsageError) as err:
        flags.request_of(options(**given))
    assert says in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5m", 90)]
)
def test_durations(text: str, seconds: int) -> None:
    assert flags.seconds_of(text, "--soak") == seconds


def test_resume_takes_the_promotions_own_settings() -> None:
    assert flags.resume_conflicts(options(release=None, version=None, through=None)) == []
    assert flags.resume_conflicts(options(release="x", through=None, version=None)) == ["RELEASE"]


def test_values_digest_covers_files_and_sets(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("replicas: 2\n")
    one = plan.values_digest([str(a)], [])
    assert one == plan.values_digest([str(a)], [])
    assert one != plan.values_digest([str(a)], ["replicas=3"])
    a.write_text("replicas: 3\n")
    assert one != plan.values_digest([str(a)], [])
    with pytest.raises(UsageError):
        plan.values_digest([str(tmp_path / "missing.yaml")], [])


def test_check_chart_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such chart"):
        plan.check_chart_path(str(tmp_path / "nope"))
    with pytest.raises(UsageError, match=r"without Chart\.yaml"):
        plan.check_chart_path(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"a chart directory or a \.tgz"):
        plan.check_chart_path(str(tmp_path / "notes.txt"))


PROMOTION: dict[str, Any] = {
    "apiVersion": "scipian.io/v1alpha1",
    "kind": "Promotion",
    "metadata": {"name": "shop-web-x7k2p", "creationTimestamp": "2026-11-30T10:00:00Z"},
    "spec": {
        "release": "shop-web",
        "namespace": "shop",
        "chart": {"name": "shop-web", "version": "1.2.0", "identity": "sha256:" + "0" * 64},
        "through": ["dev", "staging", "prod"],
        "timeoutSeconds": 120,
        "initiator": {"user": "oidc:carol@example.test", "groups": []},
        "justification": "release 1.2.0 (CHG-42)",
    },
    "status": {
        "phase": "AwaitingApproval",
        "steps": [
            {"environment": "dev", "phase": "Succeeded", "revision": 4,
             "startedAt": "2026-11-30T10:00:01Z", "finishedAt": "2026-11-30T10:00:13Z"},
            {"environment": "staging", "phase": "Failed", "revision": 2,
             "startedAt": "2026-11-30T10:00:14Z", "finishedAt": "2026-11-30T10:02:30Z",
             "message": "helm: Error: UPGRADE FAILED:\n job failed"},
            {"environment": "prod", "phase": "AwaitingApproval", "approvalsRequired": 1,
             "approvals": [{"user": "oidc:dave@example.test", "justification": "ok",
                            "time": "2026-11-30T10:03:00Z"}]},
        ],
    },
}  # fmt: skip


def test_summary_table() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 11, 30, 10, 5, tzinfo=timezone.utc)
    assert printers.summary_table(PROMOTION, now) == (
        "ENV       PHASE              REVISION   CHART            DURATION   MESSAGE\n"
        "dev       Succeeded          4          shop-web-1.2.0   12s\n"
        "staging   Failed             2          shop-web-1.2.0   2m16s      "
        "helm: Error: UPGRADE FAILED: job failed\n"
        "prod      AwaitingApproval              shop-web-1.2.0\n"
    )


def test_list_table_and_wide() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 11, 30, 11, 0, tzinfo=timezone.utc)
    assert printers.list_table([PROMOTION], now=now) == (
        "NAME             RELEASE    NAMESPACE   VERSION   THROUGH                    PHASE"
        "              INITIATOR                 AGE\n"
        'shop-web-x7k2p   shop-web   shop        1.2.0     ["dev","staging","prod"]'
        "   AwaitingApproval   oidc:carol@example.test   60m\n"
    )
    wide = printers.list_table([PROMOTION], wide=True, now=now).splitlines()
    steps_cell = "dev=Succeeded,staging=Failed,prod=AwaitingApproval"
    assert wide[0].endswith("AGE   " + "STEPS".ljust(len(steps_cell)) + "   REASON")
    assert wide[1].endswith(
        "dev=Succeeded,staging=Failed,prod=AwaitingApproval   release 1.2.0 (CHG-42)"
    )


def test_describe_names_who_what_where_when_why_and_the_approvers() -> None:
    text = printers.describe(PROMOTION)
    approved = "Approved:    prod by oidc:dave@example.test at 2026-11-30T10:03:00Z: ok"
    for part in ("oidc:carol@example.test", "shop/shop-web", "dev -> staging -> prod",
                 "release 1.2.0 (CHG-42)", "2026-11-30T10:00:00Z", approved):  # fmt: skip
        assert part in text


def test_a_real_promotion() -> None:
    """tests/data/promotions/promotion.json: `make demo`'s promotion as the backend returned
    it (kubectl's `get promotion -o json` printed the same bytes)."""
    from datetime import datetime, timezone

    real = json.loads((DATA / "promotion.json").read_text())
    now = datetime(2026, 11, 30, 1, 20, tzinfo=timezone.utc)
    assert printers.summary_table(real, now) == (
        "ENV       PHASE       REVISION   CHART            DURATION   MESSAGE\n"
        "dev       Succeeded   5          shop-web-1.2.0   0s\n"
        "staging   Succeeded   3          shop-web-1.2.0   0s\n"
        "prod      Succeeded   3          shop-web-1.2.0   1s\n"
    )
    assert printers.structured(real, "json") == (DATA / "promotion.json").read_text()
    assert "Approved:    prod by oidc:dave@example.test at 2026-11-30T01:15:37Z: CAB approved" in (
        printers.describe(real, now)
    )


def test_json_is_a_kubectl_list() -> None:
    doc = json.loads(printers.structured(printers.as_list([PROMOTION]), "json"))
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
    assert doc["items"] == [PROMOTION]


def test_the_steps_helm_command() -> None:
    chain = steps.Chain(
        chart="/c/shop-web-1.2.0.tgz",
        helm="/bin/helm",
        values=lambda env: ["a.yaml", f"{env}.yaml"],
        sets=["replicas=2"],
        no_wait=False,
        check_identity=lambda env: None,
        run_helm=lambda argv, kubeconfig: (0, "", False),
    )
    assert steps.helm_argv(PROMOTION, chain, "prod") == [
        "/bin/helm", "upgrade", "--install", "-n", "shop",
        "--atomic", "--wait", "--timeout", "120s", "-f", "a.yaml", "-f", "prod.yaml",
        "--set", "replicas=2", "--", "shop-web", "/c/shop-web-1.2.0.tgz",
    ]  # fmt: skip
    assert (steps.next_step(PROMOTION) or {}).get("environment") == "staging"


def with_steps(*phases: tuple[str, str, str]) -> dict[str, Any]:
    return {
        **PROMOTION,
        "status": {"steps": [{"environment": e, "phase": p, "message": m} for e, p, m in phases]},
    }


def test_progress_is_a_line_per_phase_change() -> None:
    import io

    from kubectl_scipian.promotions.progress import Progress

    out = io.StringIO()
    progress = Progress(out, live=False)
    progress.update(with_steps(("dev", "Pending", ""), ("prod", "Pending", "")))
    progress.update(with_steps(("dev", "Deploying", ""), ("prod", "Pending", "")))
    progress.update(with_steps(("dev", "Deploying", ""), ("prod", "Pending", "")))
    progress.update(with_steps(("dev", "Verifying", "waiting for deployment/web: 0/1 ready"),
                               ("prod", "Pending", "")))  # fmt: skip
    progress.update(with_steps(("dev", "Failed", "helm: Error: x"), ("prod", "Pending", "")))
    assert out.getvalue() == (
        "dev: Deploying\n"
        "dev: Verifying (waiting for deployment/web: 0/1 ready)\n"
        "dev: Failed (helm: Error: x)\n"
    )


def test_progress_on_a_terminal_redraws_the_table_in_place() -> None:
    import io

    from kubectl_scipian.promotions.progress import Progress

    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.update(with_steps(("dev", "Deploying", "")))
    first = out.getvalue()
    assert first.startswith("\r\x1b[2KENV ") and first.count("\n") == 2
    progress.update(with_steps(("dev", "Succeeded", "")))
    again = out.getvalue()[len(first) :]
    assert again.startswith("\x1b[2A\r\x1b[2KENV ")  # two lines up, then the table again
    assert "Succeeded" in again

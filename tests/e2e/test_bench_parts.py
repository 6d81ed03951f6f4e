"""`make bench`'s parts on the real stack, small: CI does not run the benchmark, so these
keep it from breaking unnoticed (the floor calls the backend's own code). No timings are
asserted, only that the measurements are made and shaped as bench/run.py writes them.
"""

from __future__ import annotations

import sys

import pytest

from bench import issue_load, measure
from bench.run import render
from tests.conftest import Stack
from tests.stack.backend_daemon import mgmt_kubeconfig
from tests.stack.idp_login import authcode_flow_tokens

pytestmark = pytest.mark.stack


def test_issuances_beside_the_floor(stack: Stack) -> None:
    env = stack.env
    id_token = authcode_flow_tokens(
        env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], "alice", env["STACK_PASSWORD"]
    )["id_token"]
    c1, parts = issue_load.one_client_beside_floor(
        env["SCIPIAN_BACKEND_URL"], id_token, "dev", mgmt_kubeconfig(), rounds=2, per_round=2
    )
    assert (c1["clients"], c1["requests"], c1["errors"]) == (1, 4, 0)
    assert c1["p50_ms"] > 0 and c1["p99_ms"] >= c1["p50_ms"] and c1["rps"] > 0
    assert sorted(parts) == ["session_secret_ms", "subjectaccessreview_ms", "tokenrequest_ms"]
    assert all(v > 0 for v in parts.values())
    c8 = issue_load.load(env["SCIPIAN_BACKEND_URL"], id_token, "dev", 2, 1)
    assert (c8["requests"], c8["errors"]) == (2, 0)


def test_alternating_runs_and_the_table() -> None:
    series = measure.alternate(
        {"plugin": [sys.executable, "-c", "pass"], "kubectl": ["true"]}, runs=2, warmup=1
    )
    assert [len(s.samples) for s in series.values()] == [2, 2]
    assert all(s.wall_s > 0 and s.rss_mb > 0 for v in series.values() for s in v.samples)
    entry = {"plugin_s": 0.2, "kubectl_s": 0.1, "ratio": 2.0, "runs": 2}
    issue = {"rps": 1.0, "p50_ms": 2.0, "p99_ms": 3.0, "errors": 0}
    doc = {
        "machine": {
            "cpus": 2,
            "cpu": "x",
            "memory_gb": 1,
            "python": "3",
            "kubectl": "v1",
            "date": "d",
        },
        "results": {
            "startup_version": entry,
            "get_warm": entry,
            "get_cold": {**entry, "over_warm_ms": 5.0},
            "get_5000_pods": {**entry, "plugin_rss_mb": 1, "kubectl_rss_mb": 2},
            "logs_200mb": {
                **entry,
                "plugin_rss_mb": 1,
                "kubectl_rss_mb": 2,
                "plugin_mb_per_s": 3,
                "kubectl_mb_per_s": 4,
                "throughput_ratio": 0.75,
                "peak_rss_mb": 1,
                "follow_delay_ms": 1,
                "kubectl_follow_delay_ms": 1,
            },
            "promotion_overhead": {
                **entry,
                "environments": ["bench-p1", "bench-p2", "bench-p3"],
                "overhead_per_env_s": 0.033,
                "target_per_env_s": 1.0,
                "create_s": 0.05,
                "upload_s": 0.01,
                "execution_overhead_per_env_s": 0.013,
            },
            "backend_issue": {
                "c1": issue,
                "c8": issue,
                "c32": issue,
                "floor_ms": 1.6,
                "p50_over_floor": 1.25,
            },
        },
    }
    table = render(doc)
    assert "| get_warm | 200 ms | 100 ms | 2.0 |  |" in table
    assert "c1 p50 / floor = 1.25" in table
    assert (
        "| promotion_overhead | 200 ms | 100 ms | 2.0 | a promotion executed by the backend "
        in table
    )
    assert "overhead 0.033 s per environment (goal <= 1.0 s)" in table
    assert "the creation (its renders) 0.05 s and the upload 0.01 s" in table


def test_kid_flood_phases_and_row(stack: Stack) -> None:
    """Both floods for a moment against the stack's backend: every forged request a 401,
    the legitimate client's issuances 200, and the entry's row."""
    from bench import kid_flood

    env = stack.env
    id_token = authcode_flow_tokens(
        env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], "alice", env["STACK_PASSWORD"]
    )["id_token"]
    url = env["SCIPIAN_BACKEND_URL"]
    phases = {}
    for name in ("bad_signature", "unknown_kid"):
        p = phases[name] = kid_flood.summary([kid_flood.phase(url, id_token, name, 0.3)], 0.3)
        assert p["flood_requests"] >= kid_flood.CLIENTS and p["legit_requests"] >= 1
        assert (p["legit_failures"], p["flood_unexpected"]) == (0, 0), p
        assert set(p["flood_answers"]) == {"401"}
    row = kid_flood.render_rows(
        {
            "clients": 40,
            "interval_ms": 100,
            "seconds": 10.0,
            "floods_each": 2,
            "quiet": phases["bad_signature"],
            **phases,
            "ratio": 1.0,
            "target_ratio": 1.5,
            "failures": 0,
        }
    )
    assert len(row) == 1 and "target <= 1.5x" in row[0] and "0 failures" in row[0]


# --- the fleet entries, small: each on clusters and a backend of its own ---------------------


def _no_fleet_left(prefix: str) -> None:
    from tests.stack.paths import stack_dir

    assert not list((stack_dir() / "bench").glob(f"{prefix}-*")), "a fleet world was left"


def test_fleet_envs_small() -> None:
    """3 and 20 environments: every listing is exactly the granted ids (the entry checks
    each), `@all get pods` lists one pod per granted environment, the table renders."""
    from bench import fleet_envs
    from bench.run import fleet_rows

    e = fleet_envs.run_entry(sizes=(3, 20), warm_runs=3, cold_users=2, budget_s=5)
    _no_fleet_left("fleet-envs")
    assert sorted(e["sizes"]) == ["20", "3"]
    for n, s in e["sizes"].items():
        assert s["environments"] == int(n) and s["granted"] == int(n) == s["all_rows"]
        assert (s["cold"]["requests"], s["warm"]["requests"]) == (2, 3)
        assert s["after_start"]["requests"] == 1
        assert all(s[p]["errors"] == 0 for p in ("after_start", "cold", "warm"))
        assert s["rss_mb"] > 0 and s["peak_rss_mb"] >= s["rss_mb"]
    assert e["cold_p50_ratio"] > 0
    assert any(r.startswith("| 20 | 20 |") for r in fleet_rows({"fleet_envs": e}))


def test_fleet_issue_small() -> None:
    """3 then 20 environments, 12 users: no issuance fails, and the target holds one read
    identity (ServiceAccount, ClusterRoleBinding) per user."""
    from bench import fleet_issue

    e = fleet_issue.run_entry(environments=20, users=12, c1_requests=6, c32_per_client=1)
    _no_fleet_left("fleet-issue")
    phases = [e[p][c] for p in ("small", "large", "large_spread") for c in ("c1", "c32")]
    assert [p["requests"] for p in phases] == [6, 32] * 3
    assert all(p["errors"] == 0 for p in [*phases, e["first"]])
    assert e["first"]["requests"] == 12 - fleet_issue.SMALL_USERS
    objects = e["target_objects"]
    assert (objects["serviceAccounts"], objects["clusterRoleBindings"]) == (12, 12)
    assert e["c1_p50_ratio"] > 0
    # From the clusters' audit logs: one SubjectAccessReview on mgmt, one session Secret
    # and one TokenRequest on the target per issuance; a first one also makes the identity.
    calls = e["small"]["calls_per_issuance"]
    assert calls["mgmt create subjectaccessreviews"] == 1.0
    assert calls["target create secrets"] == calls["target create serviceaccounts/token"] == 1.0
    first = e["first"]["calls_per_issuance"]
    assert first["target create serviceaccounts"] == 1.0
    assert first["target create clusterrolebindings"] == 1.0
    assert e["stored_bytes"]["target session Secret"] > 0
    for phase in ("small", "large"):
        floor = e[phase]["floor_ms"]
        assert floor["sum"] > 0 and floor["subjectaccessreview_ms"] > 0


def test_fleet_churn_small_and_the_cleanup_pass() -> None:
    """200 issuances by 20 users on 4 environments leave 200 session Secrets and 40 read
    identities; one cleanup pass 31 days ahead removes every one of them."""
    from bench import fleet_churn

    e = fleet_churn.run_entry(count=200, environments=4)
    _no_fleet_left("fleet-churn")
    assert (e["issuances"], e["users"], e["identities"]) == (200, 20, 40)
    assert e["churn"]["errors"] == 0
    before = e["before"]["target"]
    assert before == {
        "sessionSecrets": 200,
        "serviceAccounts": 40,
        "clusterRoleBindings": 40,
        "roleBindings": 0,
    }
    assert e["cleanup"]["ran"], e["cleanup"]
    removed = e["cleanup"]["removed"]
    assert (removed["sessionSecrets"], removed["serviceAccounts"]) == (200, 40)
    assert removed["bindings"] == 40 and removed["failedTargets"] == 0
    assert e["after"]["target"] == dict.fromkeys(before, 0)
    assert e["objects_per_idle_user_after"] == 0 and e["met"]

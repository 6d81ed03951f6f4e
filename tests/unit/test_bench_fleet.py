"""The fleet entries' pure parts: which environments a lister is granted, who issues where."""

from __future__ import annotations

from bench.fleet_churn import plan
from bench.fleet_envs import spread
from bench.fleet_world import env_id


def test_spread_grants_k_distinct_ids_over_the_whole_range() -> None:
    ids = spread(10000, 50)
    assert len(ids) == len(set(ids)) == 50
    assert ids[0] == env_id(0) and ids[-1] == env_id(9800)
    assert spread(3, 50) == [env_id(0), env_id(1), env_id(2)]


def test_plan_gives_each_user_two_environments_in_turns() -> None:
    tasks = plan(200, 10, 4)
    assert len(tasks) == 200
    users = {u for u, _ in tasks}
    assert len(users) == 20
    per_user = {u: [e for v, e in tasks if v == u] for u in users}
    assert all(len(envs) == 10 and len(set(envs)) == 2 for envs in per_user.values())
    # in turns: one issuance of every user before anyone's second
    assert len({u for u, _ in tasks[:20]}) == 20

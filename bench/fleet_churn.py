"""`fleet_churn` of `make bench`: 20,000 issuances (`BENCH_FLEET=full`: 100,000) by many
users, then what is left on the target and on mgmt, before and after one cleanup pass with
its clock moved past the tokens' expiry, on a fleet of the entry's own
(bench/fleet_world.py; everything removed at the end).

ENVIRONMENTS aliases of one target, all granted to group `fleet-churn`; issuances/PER_USER
users, each issuing PER_USER times in turns, alternately on two environments
(`fleet-(k mod E)` and the next one): two read identities per user, PER_USER session
Secrets. CONCURRENCY clients. Reported: the rate, p50/p99 of all and of the first and the
last tenth (the floor as session Secrets pile up), errors.

Then the counts (managed session Secrets, ServiceAccounts, ClusterRoleBindings and
RoleBindings on the target; Events, Secrets, ConfigMaps, Leases and the scipian.io objects on
mgmt), one `python -m scipian_backend cleanup --kubeconfig MGMT --advance-seconds N` with
the backend's own least-privilege mgmt identity and N = ADVANCE_S (31 days: past every
token's expiry and past the default identity idle time of 30 days, which is kept), its
JSON answer and seconds, and the counts again. Targets (issue #28): after the pass, session
Secrets 0 and objects per idle user 0 (every user is idle 31 days later).
`python -m bench.run fleet_churn` runs this entry alone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench.fleet_load import issuances, summary
from bench.fleet_world import World, email, env_id, load_average, rss_mb

ISSUANCES = 20000
FULL_ISSUANCES = 100000
PER_USER = 10
ENVIRONMENTS = 20
CONCURRENCY = 16
GROUP = "fleet-churn"
ADVANCE_S = 31 * 86400


def default_issuances() -> int:
    return FULL_ISSUANCES if os.environ.get("BENCH_FLEET") == "full" else ISSUANCES


def plan(count: int, per_user: int, environments: int) -> list[tuple[str, str]]:
    """(user, env) of each issuance: users in turns, each alternating between two envs."""
    users = max(1, count // per_user)
    tasks = []
    for r in range(per_user):
        for k in range(users):
            tasks.append((email(f"churn-{k:06d}"), env_id((k + r % 2) % environments)))
    return tasks[:count]


def run_entry(
    count: int | None = None,
    per_user: int = PER_USER,
    environments: int = ENVIRONMENTS,
    advance_s: int = ADVANCE_S,
) -> dict[str, Any]:
    print("bench: fleet_churn", file=sys.stderr)
    count = count or default_issuances()
    tasks = plan(count, per_user, environments)
    users = sorted({u for u, _ in tasks})
    out: dict[str, Any] = {
        "issuances": len(tasks),
        "users": len(users),
        "environments": environments,
        "identities": len(set(tasks)),
    }
    with World.open("fleet-churn") as world:
        world.grow(environments)
        world.grant_read(GROUP, [env_id(i) for i in range(environments)], groups=[GROUP])

        def token(user: str) -> str:
            return world.id_token(user, [GROUP])

        for user in users:
            token(user)
        backend = world.start_backend()
        print(f"bench: fleet_churn: {len(tasks)} issuances", file=sys.stderr)
        lat, errors, elapsed = issuances(backend.url, tasks, CONCURRENCY, token)
        tenth = max(1, len(lat) // 10)
        out["churn"] = {
            **summary(lat, errors, elapsed),
            "clients": CONCURRENCY,
            "seconds": round(elapsed, 1),
            "first_tenth": summary(lat[:tenth]),
            "last_tenth": summary(lat[-tenth:]),
        }
        out.update(rss_mb(backend.process.pid))
        backend.stop()  # the pass below is the only thing touching the clusters
        out["before"] = {"target": world.target_counts(), "mgmt": world.mgmt_counts()}
        out["cleanup"] = _cleanup(world, advance_s)
        out["after"] = {"target": world.target_counts(), "mgmt": world.mgmt_counts()}
        out["load"] = load_average()
    after = out["after"]["target"]
    left = after["serviceAccounts"] + after["clusterRoleBindings"] + after["roleBindings"]
    out["objects_per_idle_user_after"] = round(left / len(users), 3)
    out["met"] = after["sessionSecrets"] == 0 and left == 0
    return out


def _cleanup(world: World, advance_s: int) -> dict[str, Any]:
    """One cleanup pass (the backend's one-shot CLI), as the backend's own mgmt identity."""
    kubeconfig = str(world.backend_kubeconfig)
    t = time.monotonic()
    out = world.cli(
        "cleanup", f"--kubeconfig={kubeconfig}", f"--advance-seconds={advance_s}",
        kubeconfig=world.backend_kubeconfig,
    )  # fmt: skip
    seconds = round(time.monotonic() - t, 1)
    if out.returncode != 0:
        line = (out.stderr.strip().splitlines() or [""])[-1][:300]
        return {"ran": False, "exit": out.returncode, "stderr": line, "seconds": seconds}
    try:
        counts = json.loads(out.stdout)
    except ValueError:
        return {"ran": False, "exit": 0, "stderr": "stdout is not JSON", "seconds": seconds}
    return {"ran": True, "advance_seconds": advance_s, "removed": counts, "seconds": seconds,
            "load": load_average()}  # fmt: skip

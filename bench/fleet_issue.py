"""`fleet_issue` of `make bench`: issuance at 3 Environments and 5 users, then at 10,000
Environments and 2,000 users (`BENCH_FLEET=full`: 10,000) in the same run, on a fleet of the
entry's own (bench/fleet_world.py; everything removed at the end).

One world that grows: every user is in group `fleet-issuers`, granted `fleet-00000` (the
stack's `dev`: the environment everyone issues on) by name.
1. `small`: 3 environments; the 5 users issue once each (their identities ensured), then
   c1 (C1_REQUESTS issuances by one client, the 5 users in turn) and c32 (32 clients,
   C32_PER_CLIENT each, users in turn);
2. grow to 10,000 environments; every other user issues once (`first`: a new identity on
   the target each: ServiceAccount, ClusterRoleBinding, session Secret, token), 16 clients;
3. `large`: c1 and c32 again with the same 5 users (what the size of the fleet and the
   objects piled on both clusters cost a returning user), and `large_spread`: the same with
   all users in turn (most of them not seen by this process for a while: their identity is
   checked again, as a returning user's is after `ensured_ttl`).
Target (issue #28): `large` c1 p50 <= 1.2x `small` c1 p50. Every figure carries the
1-minute load average; the target's object counts and the backend's RSS close the entry.
`python -m bench.run fleet_issue` runs this entry alone.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bench.fleet_load import issuances, summary
from bench.fleet_world import BASE, USER_PREFIX, World, email, load_average, rss_mb
from bench.issue_load import _FloorCalls, percentile

ENVIRONMENTS = 10000
USERS = 2000
FULL_USERS = 10000
SMALL_ENVIRONMENTS = 3
SMALL_USERS = 5
C1_REQUESTS = 150
C32_PER_CLIENT = 5
FIRST_CONCURRENCY = 16
GROUP = "fleet-issuers"
TARGET_RATIO = 1.2


def default_users() -> int:
    return FULL_USERS if os.environ.get("BENCH_FLEET") == "full" else USERS


def run_entry(
    environments: int = ENVIRONMENTS,
    users: int | None = None,
    small_environments: int = SMALL_ENVIRONMENTS,
    small_users: int = SMALL_USERS,
    c1_requests: int = C1_REQUESTS,
    c32_per_client: int = C32_PER_CLIENT,
) -> dict[str, Any]:
    print("bench: fleet_issue", file=sys.stderr)
    users = users or default_users()
    names = [email(f"issuer-{k:05d}") for k in range(users)]
    hot = names[:small_users]
    out: dict[str, Any] = {"environments": environments, "users": users}
    with World.open("fleet-issue") as world:
        world.grow(small_environments)
        world.grant_read("fleet-issuers", [BASE], groups=[GROUP])

        def token(user: str) -> str:
            return world.id_token(user, [GROUP])

        for user in names:
            token(user)  # signed before any timing
        backend = world.start_backend()
        url = backend.url
        _, errors, _ = issuances(url, [(u, BASE) for u in hot], 1, token)
        if errors:
            raise RuntimeError(f"bench: fleet_issue: {errors} first issuances failed")
        out["small"] = _phase(url, hot, token, c1_requests, c32_per_client, world)
        out["small"]["environments"] = small_environments
        out["small"]["floor_ms"] = _floor(world, hot[0])
        print(f"bench: fleet_issue: growing to {environments} environments", file=sys.stderr)
        out["grow_s"] = world.grow(environments)
        print(f"bench: fleet_issue: {users - small_users} first issuances", file=sys.stderr)
        mark = world.audit_mark()
        first = [(u, BASE) for u in names[small_users:]]
        lat, errors, elapsed = issuances(url, first, FIRST_CONCURRENCY, token)
        out["first"] = summary(lat, errors, elapsed)
        out["first"]["clients"] = FIRST_CONCURRENCY
        out["first"]["calls_per_issuance"] = _per(world.audit_since(mark), len(first))
        out["large"] = _phase(url, hot, token, c1_requests, c32_per_client, world)
        out["large"]["floor_ms"] = _floor(world, hot[0])
        out["large_spread"] = _phase(url, names, token, c1_requests, c32_per_client, world)
        out["target_objects"] = world.target_counts()
        out["stored_bytes"] = world.stored_bytes()
        out.update(rss_mb(backend.process.pid))
        out["load"] = load_average()
    small, large = out["small"]["c1"]["p50_ms"], out["large"]["c1"]["p50_ms"]
    out["c1_p50_ratio"] = round(large / small, 2) if small and large else None
    out["target_ratio"] = TARGET_RATIO
    out["met"] = out["c1_p50_ratio"] is not None and out["c1_p50_ratio"] <= TARGET_RATIO
    return out


def _phase(
    url: str,
    users: list[str],
    token: Any,
    c1_requests: int,
    c32_per_client: int,
    world: World,
) -> dict[str, Any]:
    """c1 then c32, users taken in turn; the apiserver calls per issuance of c1 (from the
    clusters' audit logs)."""
    out: dict[str, Any] = {"users": len(users)}
    for clients, count in ((1, c1_requests), (32, 32 * c32_per_client)):
        tasks = [(users[i % len(users)], BASE) for i in range(count)]
        mark = world.audit_mark()
        lat, errors, elapsed = issuances(url, tasks, clients, token)
        out[f"c{clients}"] = summary(lat, errors, elapsed)
        if clients == 1:
            out["calls_per_issuance"] = _per(world.audit_since(mark), count)
    return out


class _Floor(_FloorCalls):
    """The apiserver calls of an issuance made directly by the backend's own code (issue_load
    .py), for one of this world's users: what the clusters alone cost, apart from the
    backend."""

    def __init__(self, world: World, user: str) -> None:
        from scipian_backend.identity.authn import Identity

        self.USER = USER_PREFIX + user
        super().__init__(world.backend_kubeconfig, BASE)
        self.who = Identity(self.USER, (USER_PREFIX + GROUP,), "floor")


def _floor(world: World, user: str, runs: int = 30) -> dict[str, float]:
    """p50 of each floor call over `runs`, the created session Secrets deleted after."""
    floor = _Floor(world, user)
    try:
        parts = floor.sample(runs)
    finally:
        floor.clean()
    out = {k: round(percentile(v, 50) * 1000, 2) for k, v in parts.items()}
    out["sum"] = round(sum(out.values()), 2)
    out["load"] = load_average()
    return out


def _per(counts: dict[str, int], issued: int) -> dict[str, float]:
    """Calls per issuance by "cluster verb resource", and the totals per cluster."""
    out = {k: round(v / issued, 3) for k, v in counts.items()}
    for cluster in ("mgmt", "target"):
        total = sum(v for k, v in counts.items() if k.startswith(cluster + " "))
        out[f"{cluster} total"] = round(total / issued, 3)
    return out

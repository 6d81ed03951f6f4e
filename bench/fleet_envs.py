"""`fleet_envs` of `make bench`: `GET /api/v1/environments` at 3, 1,000 and 10,000
Environments for a user granted 50 of them by name, on a fleet of the entry's own
(bench/fleet_world.py: its mgmt, its target, its backend, all removed at the end).

At each size, in one world that grows (aliases of one target, in batches):
- the grant: a ClusterRole naming min(50, n) environments spread over the sorted list
  (`resourceNames`), bound to the listing users by name;
- the backend is restarted, then
  - `after_start`: the first listing of the main user (a process that has answered nothing
    yet: empty caches but whatever the backend loads before /readyz);
  - `cold`: the first listing of each of COLD_USERS users this process has never seen (one
    sample each): what a user's first `envs` costs, no per-user decision cached;
  - `warm`: the main user again and again (WARM_RUNS, or as many as fit PHASE_BUDGET_S, at
    least 3): every per-user cache filled;
- `all_get_pods`: one `kubectl-scipian @all get pods -n fleet-app` by the main user through the
  real plugin (its kubeconfig cache empty: one listing, then min(50, n) issuances and reads),
  its rows (one pod per environment) and seconds;
- the backend's RSS (VmRSS, and VmHWM: its peak) after all of it.
Every figure carries the 1-minute load average (the machine is shared). Each listing's ids
are checked: exactly the granted ones, or the entry fails.

Targets (issue #28): p50 cold at 10,000 <= 2x p50 cold at 3 and <= 150 ms; RSS <= 300 MB.
`same_grant` compares the largest size with the smallest one granting as many (1,000):
the listing confirms each granted name with a review, so 3 granted cost less than 50.
`python -m bench.run fleet_envs` runs this entry alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.fleet_load import Client, summary
from bench.fleet_world import World, email, env_id, load_average, rss_mb
from tests.stack.paths import venv_bin

SIZES = (3, 1000, 10000)
GRANTED = 50
COLD_USERS = 5
WARM_RUNS = 30
PHASE_BUDGET_S = 60.0  # per phase and size: the listing before flat costs takes seconds
APP_NS = "fleet-app"
TARGET_RATIO = 2.0
TARGET_P50_MS = 150.0
TARGET_RSS_MB = 300.0


def spread(n: int, k: int) -> list[str]:
    """k environment ids spread evenly over fleet-00000..n-1 (not all at the start of the
    sorted list, where a listing that stops early would find them)."""
    k = min(k, n)
    return sorted({env_id(i * n // k) for i in range(k)})


def run_entry(
    sizes: Sequence[int] = SIZES,
    plugin: Sequence[str] | None = None,
    warm_runs: int = WARM_RUNS,
    cold_users: int = COLD_USERS,
    budget_s: float = PHASE_BUDGET_S,
) -> dict[str, Any]:
    print("bench: fleet_envs", file=sys.stderr)
    plugin = list(plugin or [str(venv_bin() / "kubectl-scipian")])
    out: dict[str, Any] = {"sizes": {}}
    with World.open("fleet-envs") as world:
        _app_pod(world)
        for n in sorted(sizes):
            grow_s = world.grow(n)
            print(f"bench: fleet_envs at {n} environments", file=sys.stderr)
            entry = _measure(world, n, plugin, warm_runs, cold_users, budget_s)
            entry["grow_s"] = grow_s
            out["sizes"][str(n)] = entry
    small, large = out["sizes"][str(min(sizes))], out["sizes"][str(max(sizes))]
    out["cold_p50_ratio"] = _ratio(large["cold"]["p50_ms"], small["cold"]["p50_ms"])
    out["warm_p50_ratio"] = _ratio(large["warm"]["p50_ms"], small["warm"]["p50_ms"])
    # The same grant (50 names) at the smallest size that has it: what the fleet's size
    # alone costs (at 3 environments the user can be granted only 3: fewer reviews).
    same = [s for s in out["sizes"].values() if s["granted"] == large["granted"]]
    out["same_grant"] = {
        "from": same[0]["environments"],
        "to": large["environments"],
        "cold_p50_ratio": _ratio(large["cold"]["p50_ms"], same[0]["cold"]["p50_ms"]),
    }
    out["targets"] = {
        "cold_p50_ratio": TARGET_RATIO,
        "cold_p50_ms": TARGET_P50_MS,
        "rss_mb": TARGET_RSS_MB,
    }
    out["met"] = {
        "cold_p50_ratio": out["cold_p50_ratio"] is not None
        and out["cold_p50_ratio"] <= TARGET_RATIO,
        "cold_p50_ms": large["cold"]["p50_ms"] is not None
        and large["cold"]["p50_ms"] <= TARGET_P50_MS,
        "rss_mb": large["rss_mb"] <= TARGET_RSS_MB,
    }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _measure(
    world: World,
    n: int,
    plugin: list[str],
    warm_runs: int,
    cold_users: int,
    budget_s: float,
) -> dict[str, Any]:
    granted = spread(n, GRANTED)
    main = email("lister")
    fresh = [email(f"lister-{n}-{j}") for j in range(cold_users)]
    world.grant_read("fleet-lister", granted, users=[main, *fresh])
    backend = world.start_backend()
    c = Client(backend.url)
    try:

        def listed(user: str) -> float:
            dt, ids = c.listing(world.id_token(user))
            if ids is None or sorted(ids) != granted:
                got = "no answer" if ids is None else f"{len(ids)} environments"
                raise RuntimeError(f"bench: fleet_envs at {n}: {user} listed {got}, "
                                   f"not the {len(granted)} granted")  # fmt: skip
            return dt

        for user in (main, *fresh):
            world.id_token(user)  # signed before any timing
        after_start = summary([listed(main)])
        cold = summary([listed(u) for u in fresh])
        warm: list[float] = []
        deadline = time.monotonic() + budget_s
        while len(warm) < warm_runs and (len(warm) < 3 or time.monotonic() < deadline):
            warm.append(listed(main))
    finally:
        c.close()
    entry: dict[str, Any] = {
        "environments": n,
        "granted": len(granted),
        "after_start": after_start,
        "cold": cold,
        "warm": summary(warm),
    }
    entry.update(_all_get_pods(world, plugin, len(granted)))
    entry.update(rss_mb(backend.process.pid))
    entry["load"] = load_average()
    return entry


def _app_pod(world: World) -> None:
    """One pod in fleet-app on the target (no node: it stays Pending, and is listed)."""
    core = client.CoreV1Api(world.admin("target"))
    core.create_namespace({"metadata": {"name": APP_NS}})
    pod = {
        "metadata": {"name": "app"},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "app", "image": "registry.invalid/app:1"}],
        },
    }
    deadline = time.monotonic() + 60
    while True:  # the namespace's default ServiceAccount comes from the controller-manager
        try:
            core.create_namespaced_pod(APP_NS, pod)
            return
        except client.ApiException as e:
            if e.status == 409:
                return
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _all_get_pods(world: World, plugin: list[str], granted: int) -> dict[str, Any]:
    """`@all get pods` through the real plugin, logged in with a fresh id_token (written to
    its cache as its own login would) and no cached kubeconfig."""
    from kubectl_scipian.access.cache import BackendCache, Login

    assert world.backend is not None
    url = world.backend.url
    config = world.root / f"plugin-{time.monotonic_ns()}"
    user = email("lister")
    now = time.time()
    login = Login(
        issuer=world.issuer.issuer,
        client_id="kubectl-scipian",
        scopes=["openid", "email", "groups"],
        id_token=world.id_token(user),
        refresh_token=None,
        issued_at=now,
        expires_at=now + 290,
        subject="sub-" + user,
        email=user,
        groups=[],
        auth_time=now,
        flow="device",
    )
    BackendCache(config / "cache", url, warn=sys.stderr).save_login(login)
    env = dict(os.environ, KUBECTL_SCIPIAN_CONFIG_DIR=str(config), SCIPIAN_BACKEND_URL=url)
    env["PATH"] = os.pathsep.join([str(Path(plugin[0]).parent), str(venv_bin()), env["PATH"]])
    t = time.perf_counter()
    out = subprocess.run(
        [*plugin, "@all", "get", "pods", "-n", APP_NS, "--no-headers"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - t
    rows = [line for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or len(rows) != granted:
        err = out.stderr.strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"bench: fleet_envs: @all get pods exited {out.returncode} with "
                           f"{len(rows)} rows, not {granted}: {err[0]}")  # fmt: skip
    return {"all_get_pods_s": round(seconds, 2), "all_rows": len(rows)}

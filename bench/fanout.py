"""`fanout_20`: one `@all get pods -A` over 20 environments, beside 20 sequential
`kubectl get pods -A` runs.

The 20 environments are the dev cluster under 20 ids: `dev` and 19 aliases registered
here (`bench-fNN`), granted to alice's group, so that alice's `@all` is exactly those 20.
Every environment therefore answers with the same pods, and the comparison measures the
fan-out (issuances, connections, merging, printing), not differences between clusters.
Warm: every credential cached. Cold: none, so each run makes 20 issuances; the backend's
issuance counter says how many it made.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import measure
from tests.prometheus_text import sample
from tests.stack import clusters, grants
from tests.stack.backend_daemon import admin_cli

ALIASES = tuple(f"bench-f{i:02d}" for i in range(1, 20))
ENVIRONMENTS = ("dev", *ALIASES)


def register_aliases() -> None:
    """The 19 aliases of dev (idempotent: `register` re-applies) and alice's grant on them."""

    def one(name: str) -> str | None:
        out = admin_cli(
            "register",
            f"--name={name}",
            f"--kubeconfig={clusters.admin_kubeconfig('dev')}",
            "--description=dev, again (fan-out bench)",
        )
        return out.stderr.strip() if out.returncode != 0 else None

    with ThreadPoolExecutor(4) as pool:
        errors = [e for e in pool.map(one, ALIASES) if e]
    if errors:
        raise RuntimeError(f"bench: registering the fan-out aliases failed: {errors[0]}")
    grant = grants.Grant("env", grants.READ, "oidc:team-a", ALIASES)
    manifest = json.dumps(grants.manifest((grant,)))
    clusters.kubectl_run("mgmt", "apply", "-f", "-", input=manifest)


def issuances(backend: str) -> float:
    text = requests.get(f"{backend}/metrics", timeout=10).text
    return sum(sample(text, "scipian_issuances_total", environment=e) for e in ENVIRONMENTS)


def run(
    plugin: list[str],
    kubectl: list[str],
    static: Path,
    env: dict[str, str],
    config_dir: Path,
    runs: int,
) -> dict[str, Any]:
    """Warm and cold, each beside 20 sequential kubectl runs (one shell line, as a user
    would loop)."""
    print("bench: fanout_20", file=sys.stderr)
    register_aliases()
    backend = env["SCIPIAN_BACKEND_URL"]
    listed = clusters.kubectl_run("dev", "get", "pods", "-A", "--no-headers", "-o", "name")
    pods = len(listed.stdout.splitlines())
    fan = [*plugin, "@all", "get", "pods", "-A"]
    one = " ".join([*kubectl, f"--kubeconfig={static}", "get", "pods", "-A"])
    loop = ["sh", "-c", f"for i in $(seq 20); do {one} >/dev/null || exit 1; done"]

    def drop_kubeconfigs() -> None:
        for f in config_dir.rglob("kubeconfigs/*.json"):
            f.unlink()

    out: dict[str, Any] = {"environments": len(ENVIRONMENTS), "pods_per_environment": pods}
    for name, hooks in (("warm", {}), ("cold", {"plugin": drop_kubeconfigs})):
        if name == "warm":
            measure.run_once(fan, env)  # every credential cached from here on
        before = issuances(backend)
        s = measure.alternate(
            {"plugin": fan, "kubectl": loop},
            runs=runs, warmup=1, env=env, before_each=hooks,
        )  # fmt: skip
        made = issuances(backend) - before
        p, k = s["plugin"], s["kubectl"]
        out[name] = {
            "plugin_s": round(p.median_s, 3),
            "kubectl_s": round(k.median_s, 3),
            "ratio": measure.ratio(p.median_s, k.median_s),
            "runs": len(p.samples),
            "issuances_per_run": round(made / (runs + 1), 1),  # the warm-up run included
        }
    return out

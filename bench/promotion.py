"""`promotion_overhead` of `make bench`: a promotion executed by the backend through three
environments beside three sequential `helm upgrade --install --wait` run by hand.

Three environments of the bench's own (`bench-p1..3` on the dev, staging and prod
clusters, deploy level in namespace `bench-promo`, no approvals, a step-up age of an hour
so that one login serves every run) are registered through the backend's admin CLI.
carol (platform-admins: deploy everywhere) promotes the shop-web archive through them over
the API, as the plugin does: the upload (`PUT /api/v1/charts/sha256:…`, the backend's own
helm checks it), the creation (`POST /api/v1/promotions`, which renders every step with
the backend's helm), then the watch (`GET …?watch=true`) until the backend's worker has run
`helm upgrade --install --wait` on each environment, verified it and finished: no soak.
The by-hand side installs the same archive, release `bench-helm`, with the real Helm 4 and
each cluster's admin kubeconfig, one cluster after the other, as a script would.

The figure: (promotion - by hand) / 3 per environment, goal <= 1.0 s, and apart from it
the creation's share (the POST, its renders included) and the upload's.

`python -m bench.run promotion_overhead` runs this entry alone and prints it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from bench import measure

CLUSTERS = ("dev", "staging", "prod")
ENVS = tuple(f"bench-p{i + 1}" for i in range(len(CLUSTERS)))
NAMESPACE = "bench-promo"
RELEASE = "bench-promoted"
VERSION = "1.0.0"
TARGET_PER_ENV_S = 1.0
WAIT_S = 600.0  # a bound on one promotion, not a timing assertion
FINISHED = ("Succeeded", "Failed", "Cancelled")


def register(stack_env: Mapping[str, str]) -> None:
    """The three environments (idempotent: an existing one is updated) and the namespace."""
    from tests.stack import clusters
    from tests.stack.backend_daemon import admin_cli

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    for env_id, cluster in zip(ENVS, CLUSTERS, strict=True):
        clusters.kubectl_run(cluster, "apply", "-f", "-", input=json.dumps(ns))
        args = [
            f"--kubeconfig={stack_env[f'STACK_{cluster.upper()}_KUBECONFIG']}",
            f"--name={env_id}",
            f"--deploy-namespace={NAMESPACE}",
            "--max-auth-age=3600",
        ]
        done = admin_cli("register", "--description=bench promotion", *args)  # or updates
        if done.returncode != 0:
            raise RuntimeError(f"bench: registering {env_id} failed: {done.stderr.strip()}")


class Promoter:
    """carol's promotions over the API, each timed in its parts."""

    def __init__(self, base: str, id_token: str, archive: bytes) -> None:
        self.base = base
        self.archive = archive
        self.digest = "sha256:" + hashlib.sha256(archive).hexdigest()
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = f"Bearer {id_token}"

    def once(self, reason: str) -> dict[str, float]:
        """One promotion from upload to Succeeded: {upload, create, total} in seconds."""
        started = time.perf_counter()
        up = self.http.put(
            f"{self.base}/api/v1/charts/{self.digest}",
            params={"through": ",".join(ENVS)},
            data=self.archive,
            headers={"Content-Type": "application/gzip"},
            timeout=60,
        )
        if up.status_code not in (200, 201):
            raise RuntimeError(f"bench: upload: HTTP {up.status_code} {up.text[:300]}")
        uploaded = time.perf_counter()
        body = {
            "release": RELEASE,
            "namespace": NAMESPACE,
            "chart": {"digest": self.digest, "name": "shop-web", "version": VERSION},
            "through": list(ENVS),
            "justification": reason,
            "soakSeconds": 0,
        }
        made = self.http.post(f"{self.base}/api/v1/promotions", json=body, timeout=120)
        if made.status_code != 201:
            raise RuntimeError(f"bench: create: HTTP {made.status_code} {made.text[:300]}")
        created = time.perf_counter()
        promo = made.json()
        name = promo["metadata"]["name"]
        deadline = time.monotonic() + WAIT_S
        while (promo.get("status") or {}).get("phase") not in FINISHED:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench: promotion {name} did not finish in {WAIT_S} s")
            rv = promo["metadata"].get("resourceVersion", "")
            got = self.http.get(
                f"{self.base}/api/v1/promotions/{name}",
                params={"watch": "true", "resourceVersion": rv},
                timeout=120,
            )
            if got.status_code != 200:
                raise RuntimeError(f"bench: watch: HTTP {got.status_code} {got.text[:300]}")
            promo = got.json()
        done = time.perf_counter()
        status = promo["status"]
        if status["phase"] != "Succeeded":
            raise RuntimeError(
                f"bench: promotion {name} {status['phase']}: {status.get('message')}"
            )
        return {"upload": uploaded - started, "create": created - uploaded, "total": done - started}


def promotion_overhead(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
    promoter: Promoter,
    archive: Path,
) -> dict[str, Any]:
    helm = stack_env["STACK_HELM"]
    home = work / "helm-home-promo"
    run_env = {
        **env,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    admin = [stack_env[f"STACK_{c.upper()}_KUBECONFIG"] for c in CLUSTERS]
    by_hand = " && ".join(
        f"{shlex.quote(helm)} --kubeconfig={shlex.quote(path)} upgrade --install bench-helm "
        f"{shlex.quote(str(archive))} -n {NAMESPACE} --wait >/dev/null"
        for path in admin
    )
    series = {"plugin": measure.Series(), "kubectl": measure.Series()}
    parts: dict[str, list[float]] = {"upload": [], "create": []}
    # Interleaved (as measure.alternate does), after one warm-up of each side.
    for i in range(1 + runs):
        took = promoter.once(f"bench: promotion_overhead {i}")
        hand = measure.run_once(["sh", "-c", by_hand], run_env)
        if i == 0:
            continue
        series["plugin"].samples.append(measure.Sample(took["total"], 0.0))
        series["kubectl"].samples.append(hand)
        for part in parts:
            parts[part].append(took[part])
    entry = timing(series)
    entry["environments"] = list(ENVS)
    per_env = (entry["plugin_s"] - entry["kubectl_s"]) / len(ENVS)
    entry["overhead_per_env_s"] = round(per_env, 3)
    entry["create_s"] = round(statistics.median(parts["create"]), 4)
    entry["upload_s"] = round(statistics.median(parts["upload"]), 4)
    # What execution alone adds per environment, the creation (and upload) set apart.
    alone = entry["plugin_s"] - entry["create_s"] - entry["upload_s"] - entry["kubectl_s"]
    entry["execution_overhead_per_env_s"] = round(alone / len(ENVS), 3)
    entry["target_per_env_s"] = TARGET_PER_ENV_S
    return entry


def run_entry(
    env: Mapping[str, str],
    stack_env: Mapping[str, str],
    work: Path,
    timing: Callable[[dict[str, measure.Series]], dict[str, Any]],
    runs: int,
) -> dict[str, Any]:
    """The entry with a login of its own: carol, who may deploy everywhere."""
    from tests.stack import idp_login
    from tests.stack.releases import package

    register(stack_env)
    archive = package(Path(stack_env["STACK_HELM"]), VERSION, work / "promotion-chart")
    token = idp_login.authcode_flow_tokens(
        stack_env["STACK_IDP_ISSUER"],
        stack_env["STACK_IDP_CLIENT_ID"],
        "carol",
        stack_env["STACK_PASSWORD"],
    )["id_token"]
    promoter = Promoter(stack_env["SCIPIAN_BACKEND_URL"], str(token), archive.read_bytes())
    return promotion_overhead(env, stack_env, work, timing, runs, promoter, archive)

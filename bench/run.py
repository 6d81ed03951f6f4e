"""`make bench`: kubectl-scipian beside kubectl (and helm) on the same stack, in the same run.

Writes bench/results/latest.json ({"machine": ..., "results": {NAME: ...}}) and
bench/results/latest.md, and prints the table. Timing entries carry plugin_s,
kubectl_s and ratio = plugin / kubectl (lower is better).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import requests
from kubernetes.client import ApiException

from bench import (
    fanout,
    fleet_churn,
    fleet_envs,
    fleet_issue,
    follow,
    helm,
    issue_load,
    kid_flood,
    measure,
    promotion,
    seed,
    ui_pages,
)
from tests.stack import idp_login
from tests.stack.backend_daemon import mgmt_kubeconfig, spawn_backend
from tests.stack.login import plugin_env, plugin_login
from tests.stack.paths import ROOT, stack_dir
from tests.stack.podlogs import give_logs
from tests.stack.stack import env_or_up

RESULTS = ROOT / "bench" / "results"
RUNS = int(os.environ.get("BENCH_RUNS", "10"))


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kubectl = subprocess.run(
        [str(ROOT / ".venv/bin/kubectl"), "version", "--client", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kubectl": json.loads(kubectl.stdout)["clientVersion"]["gitVersion"],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def issued_kubeconfig(env: dict[str, str], user: str, env_id: str, out: Path) -> str:
    """A kubeconfig from the backend for `user`, as the plugin would get it: the static
    kubeconfig kubectl runs with, so both sides use the same credentials."""
    id_token = _id_token(env, user)
    resp = requests.post(
        f"{env['SCIPIAN_BACKEND_URL']}/api/v1/environments/{env_id}/kubeconfig",
        json={},
        headers={"Authorization": f"Bearer {id_token}"},
        timeout=30,
    )
    resp.raise_for_status()
    out.write_text(resp.json()["kubeconfig"])
    out.chmod(0o600)
    return id_token


def _id_token(env: dict[str, str], user: str) -> str:
    tokens = idp_login.device_flow_tokens(
        env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], user, env["STACK_PASSWORD"]
    )
    return str(tokens["id_token"])


def timing(series: dict[str, measure.Series], rss: bool = False) -> dict[str, Any]:
    p, k = series["plugin"], series["kubectl"]
    entry: dict[str, Any] = {
        "plugin_s": round(p.median_s, 4),
        "kubectl_s": round(k.median_s, 4),
        "ratio": measure.ratio(p.median_s, k.median_s),
        "runs": len(p.samples),
    }
    if rss:
        entry["plugin_rss_mb"] = round(p.peak_rss_mb, 1)
        entry["kubectl_rss_mb"] = round(k.peak_rss_mb, 1)
        entry["rss_ratio"] = measure.ratio(p.peak_rss_mb, k.peak_rss_mb)
    d = series.get("direct")
    if d is not None:
        # The executable called directly, not through `kubectl scipian`: the plugin's own
        # time, and its own peak RSS (as typed, ru_maxrss keeps kubectl's pre-exec high-water
        # mark, about 64 MB here, which hides the plugin's smaller figure).
        entry["direct_s"] = round(d.median_s, 4)
        entry["direct_ratio"] = measure.ratio(d.median_s, k.median_s)
        entry["direct_rss_mb"] = round(d.peak_rss_mb, 1)
    return entry


def installed_plugin(work: Path) -> Path:
    """The plugin as `pip install` gives it to a user (a wheel, not the work tree's editable
    install, whose import hook costs every start ~8 ms), in a venv of the bench's own with
    the tested pins. Returns its bin directory."""
    venv = work / "venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    pip += ["--disable-pip-version-check"]
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        deps = ["kubernetes", "requests", "platformdirs"]
        subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), *deps], check=True)
    subprocess.run([*pip, "--no-deps", "--force-reinstall", str(ROOT)], check=True)
    return venv / "bin"


class Plugin(NamedTuple):
    """What every CLI entry runs with: the installed plugin, logged in as alice, and the
    static kubeconfig kubectl runs with (issued to alice for dev, as the plugin's is)."""

    stack_env: dict[str, str]
    work: Path
    env: dict[str, str]
    config_dir: Path
    bin: Path
    kubectl: str
    kube_cache: str
    static: Path
    id_token: str


def plugin_run_env(stack_env: dict[str, str], **extra: str) -> tuple[dict[str, str], Path, Path]:
    """(environment, work dir, plugin bin dir): the installed plugin first on PATH, as a
    user's shell would run it."""
    work = stack_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    env = plugin_env(stack_env, **extra)
    plugin_bin = installed_plugin(work)
    env["PATH"] = os.pathsep.join([str(plugin_bin), str(ROOT / ".venv" / "bin"), env["PATH"]])
    # A user's shell sets neither: without bytecode caching every run recompiles the
    # plugin's modules, and unbuffered stdio turns every write into a system call.
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env, work, plugin_bin


def _env_and_work(stack_env: dict[str, str]) -> tuple[dict[str, str], dict[str, str], Path]:
    """(env, stack_env, work): the arguments the helm entries start with."""
    env, work, _ = plugin_run_env(stack_env)
    return env, stack_env, work


def plugin_setup(stack_env: dict[str, str]) -> Plugin:
    config_dir = stack_dir() / "bench" / "plugin-config"
    shutil.rmtree(config_dir, ignore_errors=True)
    env, work, plugin_bin = plugin_run_env(stack_env, KUBECTL_SCIPIAN_CONFIG_DIR=str(config_dir))
    print("bench: logging alice in", file=sys.stderr)
    plugin_login("alice", stack_env["STACK_PASSWORD"], env)
    static = work / "alice-dev.kubeconfig"
    id_token = issued_kubeconfig(stack_env, "alice", "dev", static)
    return Plugin(
        stack_env,
        work,
        env,
        config_dir,
        plugin_bin,
        str(ROOT / ".venv" / "bin" / "kubectl"),
        f"--cache-dir={work / 'kube-cache'}",
        static,
        id_token,
    )


def fanout_20(pl: Plugin) -> dict[str, Any]:
    return fanout.run(
        ["kubectl", "scipian"],
        [pl.kubectl, pl.kube_cache],
        pl.static,
        pl.env,
        pl.config_dir,
        max(3, RUNS // 2),
    )


def get_warm(pl: Plugin) -> dict[str, Any]:
    """`dev get pods -n bench-50` (50 pods) with a fresh cached kubeconfig: as typed
    (through kubectl), called directly, and kubectl with the same credential."""
    print("bench: get_warm", file=sys.stderr)
    seed.ensure_pods(seed.admin_api(Path(pl.stack_env["STACK_DEV_KUBECONFIG"])), "bench-50", 50)
    get50 = ["get", "pods", "-n", "bench-50"]
    s = measure.alternate(
        {
            "plugin": ["kubectl", "scipian", "dev", *get50],
            "kubectl": [pl.kubectl, f"--kubeconfig={pl.static}", pl.kube_cache, *get50],
            "direct": [str(pl.bin / "kubectl-scipian"), "dev", *get50],
        },
        runs=RUNS, env=pl.env,
    )  # fmt: skip
    return timing(s)


def main() -> int:
    measure.start_launcher()
    stack_env, _ = env_or_up()
    if "SCIPIAN_BACKEND_URL" not in stack_env:
        print("bench: the stack has no backend", file=sys.stderr)
        return 1
    pl = plugin_setup(stack_env)
    work, env, config_dir, plugin_bin = pl.work, pl.env, pl.config_dir, pl.bin
    kubectl, kube_cache, static, id_token = pl.kubectl, pl.kube_cache, pl.static, pl.id_token
    # Before the 5000 pods are seeded (on a fresh stack): each of the 20 environments then
    # lists the stack's own few pods, so this measures the fan-out, not 100k pods' printing.
    results: dict[str, Any] = {"fanout_20": fanout_20(pl)}
    print("bench: seeding the dev cluster", file=sys.stderr)
    dev_admin = Path(stack_env["STACK_DEV_KUBECONFIG"])
    core = seed.admin_api(dev_admin)
    seed.ensure_pods(core, "bench-50", 50)
    seed.ensure_pods(core, "bench-5000", 5000)
    log_bytes = seed.ensure_big_log(dev_admin, core, "bench-logs", "big-log", 200 * 2**20, work)

    plug = ["kubectl", "scipian"]
    direct = [str(plugin_bin / "kubectl-scipian")]

    print("bench: startup_version", file=sys.stderr)
    s = measure.alternate(
        {"plugin": [*plug, "version"], "kubectl": [kubectl, "version", "--client"]},
        runs=RUNS * 2, env=env,
    )  # fmt: skip
    results["startup_version"] = timing(s)

    results["get_warm"] = get_warm(pl)
    get50 = ["get", "pods", "-n", "bench-50"]

    print("bench: get_cold", file=sys.stderr)

    def drop_kubeconfigs() -> None:
        for f in config_dir.rglob("kubeconfigs/*.json"):
            f.unlink()

    s = measure.alternate(
        {
            "plugin": [*plug, "dev", *get50],
            "kubectl": [kubectl, f"--kubeconfig={static}", kube_cache, *get50],
        },
        runs=RUNS, env=env, before_each={"plugin": drop_kubeconfigs},
    )  # fmt: skip
    results["get_cold"] = timing(s)
    results["get_cold"]["over_warm_ms"] = round(
        (results["get_cold"]["plugin_s"] - results["get_warm"]["plugin_s"]) * 1000, 1
    )

    print("bench: get_5000_pods", file=sys.stderr)
    s = measure.alternate(
        {
            "plugin": [*plug, "dev", "get", "pods", "-A"],
            "kubectl": [kubectl, f"--kubeconfig={static}", kube_cache, "get", "pods", "-A"],
        },
        runs=max(3, RUNS // 2), warmup=1, env=env,
    )  # fmt: skip
    results["get_5000_pods"] = timing(s, rss=True)

    print("bench: logs_200mb", file=sys.stderr)
    logs = ["logs", "big-log", "-n", "bench-logs"]
    s = measure.alternate(
        {
            "plugin": [*plug, "dev", *logs],
            "kubectl": [kubectl, f"--kubeconfig={static}", kube_cache, *logs],
            "direct": [*direct, "dev", *logs],
        },
        runs=3, warmup=1, env=env,
    )  # fmt: skip
    entry = timing(s, rss=True)
    entry["bytes"] = log_bytes
    entry["plugin_mb_per_s"] = round(log_bytes / 2**20 / entry["plugin_s"], 1)
    entry["kubectl_mb_per_s"] = round(log_bytes / 2**20 / entry["kubectl_s"], 1)
    entry["throughput_ratio"] = measure.ratio(entry["plugin_mb_per_s"], entry["kubectl_mb_per_s"])
    entry["peak_rss_mb"] = entry["direct_rss_mb"]
    # -f on a small log of its own, so the delay is not hidden behind 200 MB of backlog.
    seed.ensure_namespace(core, "bench-logs")
    try:
        core.create_namespaced_pod("bench-logs", seed.pod_body("follow", "kwok-node-1"))
    except ApiException as e:
        if e.status != 409:
            raise
    files = give_logs(dev_admin, "bench-logs", "follow", {"c": ["start"]}, logs_dir=work)
    follow_args = ["logs", "-f", "follow", "-n", "bench-logs"]
    entry["follow_delay_ms"] = follow.follow_delay_ms([*plug, "dev", *follow_args], files["c"], env)
    entry["kubectl_follow_delay_ms"] = follow.follow_delay_ms(
        [kubectl, f"--kubeconfig={static}", kube_cache, *follow_args], files["c"], env
    )
    results["logs_200mb"] = entry

    results["deploy_issue"] = deploy_issue(stack_env)

    results["backend_issue"] = backend_issue(stack_env, id_token)

    results["kid_flood"] = kid_flood.run_entry(stack_env, _id_token(stack_env, "alice"))

    print("bench: helm_history", file=sys.stderr)
    results["helm_history"] = helm.run_entry(env, stack_env, work, timing, RUNS)

    print("bench: promotion_overhead", file=sys.stderr)
    results["promotion_overhead"] = promotion.run_entry(env, stack_env, work, timing, 3)

    print("bench: ui_pages", file=sys.stderr)
    results["ui_pages"] = ui_pages.run_entry(stack_env)

    # Each on clusters and a backend of its own, removed at its end (bench/fleet_world.py).
    results["fleet_envs"] = fleet_envs.run_entry(plugin=[str(plugin_bin / "kubectl-scipian")])
    results["fleet_issue"] = fleet_issue.run_entry()
    results["fleet_churn"] = fleet_churn.run_entry()

    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"machine": machine(), "results": results}
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    table = render(doc)
    (RESULTS / "latest.md").write_text(table)
    print(table)
    return 0


def backend_issue(stack_env: dict[str, str], id_token: str) -> dict[str, Any]:
    """c1, c8 and c32 issuances from a backend of this work tree, and c1 beside its floor."""
    print("bench: backend_issue", file=sys.stderr)
    # A backend of its own, from this work tree (the stack's may run older code), on the
    # stack's mgmt cluster and issuer: the same id_token is valid there.
    own = spawn_backend(
        stack_env["STACK_IDP_ISSUER"], stack_env["STACK_IDP_CLIENT_ID"], name="bench"
    )
    issue: dict[str, Any] = {}
    try:
        issue_load.load(own.url, id_token, "dev", 4, 3)  # warm-up: connections, ensured SA
        issue["c1"], parts = issue_load.one_client_beside_floor(
            own.url,
            id_token,
            "dev",
            mgmt_kubeconfig(),  # the backend's own identity on mgmt
        )
        for c, per in ((8, 10), (32, 5)):
            issue[f"c{c}"] = issue_load.load(own.url, id_token, "dev", c, per)
    finally:
        own.stop()
    issue["floor_parts_ms"] = parts
    issue["floor_ms"] = round(sum(parts.values()), 2)
    p50 = issue["c1"]["p50_ms"]
    issue["p50_over_floor"] = round(p50 / issue["floor_ms"], 2) if p50 else None
    return issue


def deploy_issue(stack_env: dict[str, str]) -> dict[str, Any]:
    """p50 of a deploy issuance beside a read one (target: within 1.2x), on a backend of its
    own, with a login made just now (step-up: a deploy request needs one under 300 s)."""
    print("bench: deploy_issue", file=sys.stderr)
    id_token = _id_token(stack_env, "alice")
    own = spawn_backend(
        stack_env["STACK_IDP_ISSUER"], stack_env["STACK_IDP_CLIENT_ID"], name="bench-deploy"
    )
    try:
        return issue_load.deploy_beside_read(own.url, id_token, "dev", RUNS * 3)
    finally:
        own.stop()


def only(name: str) -> int:
    """`python -m bench.run deploy_issue`: one entry, printed (latest.json is untouched)."""
    entries: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
        "deploy_issue": deploy_issue,
        "backend_issue": lambda stack_env: backend_issue(stack_env, _id_token(stack_env, "alice")),
        "fanout_20": lambda stack_env: fanout_20(plugin_setup(stack_env)),
        "get_warm": lambda stack_env: get_warm(plugin_setup(stack_env)),
        "ui_pages": ui_pages.run_entry,
        "kid_flood": lambda stack_env: kid_flood.run_entry(
            stack_env, _id_token(stack_env, "alice")
        ),
        "helm_history": lambda stack_env: helm.run_entry(*_env_and_work(stack_env), timing, RUNS),
        "promotion_overhead": lambda stack_env: promotion.run_entry(
            *_env_and_work(stack_env), timing, 3
        ),
    }
    # The fleet entries start clusters of their own: no stack needed.
    fleet: dict[str, Callable[[], dict[str, Any]]] = {
        "fleet_envs": lambda: fleet_envs.run_entry(
            plugin=[str(installed_plugin(stack_dir() / "bench") / "kubectl-scipian")]
        ),
        "fleet_issue": fleet_issue.run_entry,
        "fleet_churn": fleet_churn.run_entry,
    }
    if name in fleet:
        print(json.dumps({name: fleet[name]()}, indent=2))
        return 0
    if name not in entries:
        names = [*entries, *fleet]
        print(f"bench: no entry {name!r} (one of: {', '.join(names)})", file=sys.stderr)
        return 2
    measure.start_launcher()
    stack_env, _ = env_or_up()
    print(json.dumps({name: entries[name](stack_env)}, indent=2))
    return 0


def render(doc: dict[str, Any]) -> str:
    r = doc["results"]
    m = doc["machine"]
    rows = [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"kubectl {m['kubectl']}, {m['date']}",
        "",
        "| benchmark | kubectl-scipian | kubectl | ratio | notes |",
        "|---|---|---|---|---|",
    ]
    for name in ("startup_version", "get_warm", "get_cold", "get_5000_pods", "logs_200mb"):
        e = r[name]
        note = ""
        if name == "get_cold":
            note = f"+{e['over_warm_ms']} ms over get_warm"
        if "plugin_rss_mb" in e:
            note = f"RSS {e['plugin_rss_mb']} MB vs {e['kubectl_rss_mb']} MB"
        if name == "get_warm" and "direct_s" in e:
            note = (
                f"kubectl-scipian called directly: {e['direct_s'] * 1000:.0f} ms "
                f"(ratio {e['direct_ratio']})"
            )
        if name == "logs_200mb":
            note = (
                f"{e['plugin_mb_per_s']} vs {e['kubectl_mb_per_s']} MB/s "
                f"(throughput ratio {e['throughput_ratio']}); plugin's own peak RSS "
                f"{e['peak_rss_mb']} MB (called directly; as typed {e['plugin_rss_mb']} MB); "
                f"-f delay {e['follow_delay_ms']} vs {e['kubectl_follow_delay_ms']} ms"
            )
        rows.append(
            f"| {name} | {e['plugin_s'] * 1000:.0f} ms | {e['kubectl_s'] * 1000:.0f} ms "
            f"| {e['ratio']} | {note} |"
        )
    for name in ("warm", "cold"):
        e = r.get("fanout_20", {}).get(name)
        if e:
            rows.append(
                f"| fanout_20 {name} | {e['plugin_s'] * 1000:.0f} ms "
                f"| {e['kubectl_s'] * 1000:.0f} ms "
                f"| {e['ratio']} | `@all get pods -A` over {r['fanout_20']['environments']} "
                f"environments beside as many sequential `kubectl get pods -A`; "
                f"{e['issuances_per_run']} issuances per run |"
            )
    if "helm_history" in r:
        e, many = r["helm_history"], r["helm_history"]["list_envs"]
        rows.append(
            f"| helm_history | {e['plugin_s'] * 1000:.0f} ms | {e['kubectl_s'] * 1000:.0f} ms "
            f"| {e['ratio']} | beside `helm history` (admin); "
            f"{','.join(many['environments'])} helm list -A: {many['plugin_s'] * 1000:.0f} ms "
            f"vs {len(many['environments'])} sequential `helm list -A` "
            f"{many['kubectl_s'] * 1000:.0f} ms, ratio {many['ratio']} |"
        )
    if "promotion_overhead" in r:
        e = r["promotion_overhead"]
        rows.append(
            f"| promotion_overhead | {e['plugin_s'] * 1000:.0f} ms "
            f"| {e['kubectl_s'] * 1000:.0f} ms "
            f"| {e['ratio']} | a promotion executed by the backend through "
            f"{','.join(e['environments'])} beside 3 sequential `helm upgrade --install --wait` "
            f"by hand (admin); overhead {e['overhead_per_env_s']} s per environment "
            f"(goal <= {e['target_per_env_s']} s), of which the creation (its renders) "
            f"{e['create_s']} s and the upload {e['upload_s']} s in all |"
        )
    b = r["backend_issue"]
    rows += ["", "| backend_issue | rps | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
    for c in ("c1", "c8", "c32"):
        e = b[c]
        rows.append(f"| {c} | {e['rps']} | {e['p50_ms']} | {e['p99_ms']} | {e['errors']} |")
    rows.append("")
    d = r.get("deploy_issue")
    if d:
        rows.append(
            f"deploy_issue: p50 {d['deploy_p50_ms']} ms for a deploy issuance beside "
            f"{d['read_p50_ms']} ms for a read one ({d['ratio']}x; target <= 1.2x)"
        )
        rows.append("")
    if "kid_flood" in r:
        rows += [*kid_flood.render_rows(r["kid_flood"]), ""]
    if "ui_pages" in r:
        rows += [*ui_pages.render_rows(r["ui_pages"])[1:], ""]
    rows += fleet_rows(r)
    rows.append(
        "Issuance floor (the backend's own SubjectAccessReview, session Secret and TokenRequest "
        f"calls made directly, p50 each): "
        f"{b['floor_ms']} ms; c1 p50 / floor = {b['p50_over_floor']}"
    )
    return "\n".join(rows) + "\n"


def fleet_rows(r: dict[str, Any]) -> list[str]:
    """The fleet entries' lines (docs/scale.md explains them)."""
    rows: list[str] = []
    e = r.get("fleet_envs")
    if e:
        rows += [
            "| fleet_envs: environments | granted | envs p50/p99 cold ms | warm ms "
            "| after start ms | @all get pods s | backend RSS MB | load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for n, s in e["sizes"].items():
            rows.append(
                f"| {n} | {s['granted']} | {s['cold']['p50_ms']}/{s['cold']['p99_ms']} "
                f"| {s['warm']['p50_ms']}/{s['warm']['p99_ms']} | {s['after_start']['p50_ms']} "
                f"| {s['all_get_pods_s']} | {s['rss_mb']} (peak {s['peak_rss_mb']}) "
                f"| {s['load']} |"
            )
        rows += [
            f"fleet_envs: cold p50 ratio largest/smallest {e['cold_p50_ratio']} "
            f"(target <= {e['targets']['cold_p50_ratio']}); met: {e['met']}; the same "
            f"{e['sizes'][str(e['same_grant']['to'])]['granted']} granted at "
            f"{e['same_grant']['from']} and {e['same_grant']['to']} environments: "
            f"{e['same_grant']['cold_p50_ratio']}",
            "",
        ]
    i = r.get("fleet_issue")
    if i:
        rows += [
            "| fleet_issue | users | c1 p50/p99 ms | c32 p50/p99 ms | c32 rps |",
            "|---|---|---|---|---|",
        ]
        for name in ("small", "large", "large_spread"):
            p = i[name]
            rows.append(
                f"| {name} | {p['users']} | {p['c1']['p50_ms']}/{p['c1']['p99_ms']} "
                f"| {p['c32']['p50_ms']}/{p['c32']['p99_ms']} | {p['c32']['rps']} |"
            )
        fs, fl = i["small"].get("floor_ms"), i["large"].get("floor_ms")
        if fs and fl:
            rows.append(
                f"fleet_issue floor (SubjectAccessReview + session Secret + TokenRequest made "
                f"directly, p50 each): small {fs['sum']} ms, large {fl['sum']} ms"
            )
        rows += [
            f"fleet_issue: {i['environments']} environments, {i['users']} users; c1 p50 "
            f"large/small {i['c1_p50_ratio']} (target <= {i['target_ratio']})",
            "",
        ]
    c = r.get("fleet_churn")
    if c:
        b, a = c["before"]["target"], c["after"]["target"]
        rows += [
            f"fleet_churn: {c['issuances']} issuances by {c['users']} users at "
            f"{c['churn']['rps']}/s (p50 first tenth {c['churn']['first_tenth']['p50_ms']} ms, "
            f"last {c['churn']['last_tenth']['p50_ms']} ms); target before cleanup {b}, after "
            f"{a}; cleanup {c['cleanup']}",
            "",
        ]
    return rows


FLEET = ("fleet_envs", "fleet_issue", "fleet_churn")

if __name__ == "__main__":
    import signal

    from bench.leftovers import _terminate, removed_at_exit

    if len(sys.argv) > 1 and sys.argv[1] in FLEET:
        # Nothing on the stack: the entry's own world is removed by its own `finally`
        # (SIGTERM too, as Ctrl-C).
        signal.signal(signal.SIGTERM, _terminate)
        sys.exit(only(sys.argv[1]))
    with removed_at_exit():  # the stack is the test suite's too: nothing stays behind
        code = only(sys.argv[1]) if len(sys.argv) > 1 else main()
    sys.exit(code)

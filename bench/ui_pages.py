"""`ui_pages` of `make bench`: the dashboard's pages, rendered by the stack's backend.

The world: the stack's 3 environments (carol may use all), 50 Helm releases in a
namespace of the bench's own on dev (`bench-ui`), written as Helm's own Secret records,
cloned from the stack's real shop-web record (the backend decodes them as any other), and
20 finished Promotions of carol's (releases `bench-ui-pNN`) written as the admin. Per
page: p50 of a GET with a dashboard session, from a client on loopback (an upper bound of
the server-side render: it includes the backend's SubjectAccessReviews and reads), and the
page's weight before compression. Targets: <= 150 ms p50, <= 100 KB.

The pods and logs pages are a frame by GET (nothing minted) and their data by a POST
carrying the CSRF token in a header (`pods_data`, the follow stream), each minting a read
credential. Logs on demand (docs/decisions/push-or-pull.md): time from the request to the
first log line of a follow stream, and the bytes moved for N lines.

`python -m bench.ui_pages` runs this entry alone and prints it.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import statistics
import sys
import time
from typing import Any

import requests

from tests.stack import idp_login
from tests.stack.podlogs import give_logs
from tests.stack.releases import NAMESPACE, RELEASE
from tests.stack.stack import env_or_up

BENCH_NS = "bench-ui"
RELEASES = 50
RUNS = 30
LOG_LINES = 100
PROMOTIONS = 20


def kubectl(env: dict[str, str], cluster: str, *args: str, input: str | None = None) -> str:
    import subprocess

    kubeconfig = env[f"STACK_{cluster.upper()}_KUBECONFIG"]
    done = subprocess.run(
        [env["STACK_KUBECTL"], f"--kubeconfig={kubeconfig}", *args],
        input=input, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return done.stdout


def seed_releases(env: dict[str, str]) -> str:
    """50 releases in bench-ui on dev (idempotent); returns one release's name."""
    found = json.loads(
        kubectl(env, "dev", "get", "secrets", "-n", NAMESPACE, "-l",
                f"owner=helm,name={RELEASE}", "-o", "json")
    )["items"]  # fmt: skip
    template = max(found, key=lambda s: int(s["metadata"]["labels"]["version"]))
    record = json.loads(
        gzip.decompress(base64.b64decode(base64.b64decode(template["data"]["release"])))
    )
    kubectl(env, "dev", "create", "namespace", BENCH_NS) if not _exists(env) else None
    items = []
    for i in range(RELEASES):
        name = f"rel-{i:02d}"
        rec = {**record, "name": name, "namespace": BENCH_NS, "version": 1}
        blob = base64.b64encode(gzip.compress(json.dumps(rec).encode())).decode()
        items.append({
            "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {
                "name": f"sh.helm.release.v1.{name}.v1", "namespace": BENCH_NS,
                "labels": {"owner": "helm", "name": name, "version": "1",
                           "status": rec["info"]["status"]},
            },
            "data": {"release": base64.b64encode(blob.encode()).decode()},
        })  # fmt: skip
    kubectl(
        env,
        "dev",
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    return "rel-00"


def _exists(env: dict[str, str]) -> bool:
    import subprocess

    kubeconfig = env["STACK_DEV_KUBECONFIG"]
    return subprocess.run(
        [env["STACK_KUBECTL"], f"--kubeconfig={kubeconfig}", "get", "namespace", BENCH_NS],
        capture_output=True, check=False,
    ).returncode == 0  # fmt: skip


def promotion_release(i: int) -> str:
    return f"bench-ui-p{i:02d}"


def seed_promotions(env: dict[str, str]) -> str:
    """20 finished Promotions (dev → staging → prod) of releases bench-ui-pNN in `shop`,
    written as the management cluster's admin with the record the backend's executor leaves
    (digests, an approval of prod, the executing replica): the backend executes every
    promotion it is given, and the pages' render is what is measured here, not helm.
    Idempotent (apply); returns one promotion's name."""
    digest = "sha256:" + "b" * 64
    steps = [
        {
            "environment": e, "phase": "Succeeded", "approvalsRequired": 1 if e == "prod" else 0,
            "approvals": [{"user": "oidc:dave@example.test", "justification": "bench: CAB",
                           "time": "2026-12-01T10:02:00Z", "diffDigest": digest}]
            if e == "prod" else [],
            "renderDigest": digest, "manifestDigest": digest, "configDigest": digest,
            "previousRevision": 1, "revision": 2, "startedAt": "2026-12-01T10:01:00Z",
            "verifiedAt": "2026-12-01T10:01:30Z", "finishedAt": "2026-12-01T10:01:30Z",
            "executedBy": "bench-replica", "message": "",
        }
        for e in ("dev", "staging", "prod")
    ]  # fmt: skip
    names = [f"{promotion_release(i)}-bench" for i in range(PROMOTIONS)]
    for name, i in zip(names, range(PROMOTIONS), strict=True):
        promo = {
            "apiVersion": "scipian.io/v1alpha1", "kind": "Promotion",
            "metadata": {"name": name},
            "spec": {
                "release": promotion_release(i), "namespace": NAMESPACE,
                "chart": {"digest": "sha256:" + "0" * 64, "name": "shop-web", "version": "1.2.0"},
                "through": ["dev", "staging", "prod"], "justification": "bench: ui_pages",
                "soakSeconds": 0, "timeoutSeconds": 300,
                "initiator": {"user": "oidc:carol@example.test", "groups": []},
                "valuesDigests": {e: digest for e in ("dev", "staging", "prod")},
            },
        }  # fmt: skip
        kubectl(env, "mgmt", "apply", "-f", "-", input=json.dumps(promo))
        status = {
            "status": {
                "phase": "Succeeded", "message": "", "lastTransition": "2026-12-01T10:03:00Z",
                "executedBy": "bench-replica", "steps": steps,
            }
        }  # fmt: skip
        kubectl(env, "mgmt", "patch", "promotion.scipian.io", name, "--subresource=status",
                "--type=merge", "-p", json.dumps(status))  # fmt: skip
    return names[-1]


def dashboard_session(env: dict[str, str], user: str) -> requests.Session:
    """A dashboard session, signed in through the provider's own pages over HTTP."""
    base = env["SCIPIAN_BACKEND_URL"]
    s = requests.Session()
    s.trust_env = False
    start = s.get(f"{base}/ui/login", allow_redirects=False, timeout=30)
    back = idp_login.authcode_browser(start.headers["location"], user, env["STACK_PASSWORD"])
    done = s.get(back, allow_redirects=False, timeout=30)
    if done.status_code != 303 or "scipian_session" not in s.cookies:
        raise RuntimeError(f"dashboard sign-in failed: HTTP {done.status_code}")
    return s


def page_times(s: requests.Session, url: str, runs: int) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        r = s.get(url, timeout=30)
        times.append(time.perf_counter() - started)
        r.raise_for_status()
        size = len(r.content)
    return {"p50_ms": round(statistics.median(times) * 1000, 1), "bytes": size}


def csrf_token(s: requests.Session, base: str) -> str:
    """The session's CSRF token, as the dashboard's scripts read it from a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', s.get(f"{base}/ui/", timeout=30).text)
    if found is None:
        raise RuntimeError("no CSRF token on the dashboard's page")
    return found.group(1)


def post_times(s: requests.Session, url: str, token: str, runs: int) -> dict[str, Any]:
    """As page_times, for a data request of the pages' scripts (a POST carrying the CSRF
    token in a header; these mint a read credential each)."""
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        r = s.post(url, headers={"X-CSRF-Token": token}, timeout=30)
        times.append(time.perf_counter() - started)
        r.raise_for_status()
        size = len(r.content)
    return {"p50_ms": round(statistics.median(times) * 1000, 1), "bytes": size}


def first_line(s: requests.Session, url: str, token: str) -> dict[str, Any]:
    """A follow stream (the logs page's POST): ms to its first log line, and its bytes
    until LOG_LINES lines."""
    started = time.perf_counter()
    first_ms, lines, moved = None, 0, 0
    with s.post(url, headers={"X-CSRF-Token": token}, stream=True, timeout=30) as r:
        r.raise_for_status()
        for raw in r.iter_lines():
            moved += len(raw) + 1
            if raw.startswith(b"event: line"):
                lines += 1
                if first_ms is None:
                    first_ms = round((time.perf_counter() - started) * 1000, 1)
                if lines >= LOG_LINES:
                    break
    return {"first_line_ms": first_ms, "stream_bytes": moved, "lines": lines}


def run_entry(env: dict[str, str]) -> dict[str, Any]:
    base = env["SCIPIAN_BACKEND_URL"]
    release = seed_releases(env)
    pod = "bench-ui-logs"
    if "bench-ui-logs" not in kubectl(env, "dev", "get", "pods", "-n", BENCH_NS, "-o", "name"):
        on_kwok = {
            "spec": {
                "nodeSelector": {"type": "kwok"},
                "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
            }
        }
        kubectl(env, "dev", "run", pod, "-n", BENCH_NS, "--image=registry.example/web:1",
                "--overrides", json.dumps(on_kwok))  # fmt: skip
    line = "2026-11-30T10:00:00Z GET /api/cart/42 200 1.2ms user-agent=Mozilla/5.0"
    give_logs(env["STACK_DEV_KUBECONFIG"], BENCH_NS, pod, {pod: [line] * LOG_LINES})
    promotion = seed_promotions(env)
    carol = dashboard_session(env, "carol")
    pages = {
        "environments": f"{base}/ui/",
        "releases": f"{base}/ui/environments/dev",
        "history": f"{base}/ui/environments/dev/releases/{BENCH_NS}/{release}",
        "activity": f"{base}/ui/activity",
        "promotions": f"{base}/ui/promotions",
        "promotion": f"{base}/ui/promotions/{promotion}",
    }
    entry: dict[str, Any] = {name: page_times(carol, url, RUNS) for name, url in pages.items()}
    token = csrf_token(carol, base)
    # The pods and logs pages: a frame by GET (mints nothing), their data by POST.
    entry["pods_page"] = page_times(carol, f"{pages['history']}/pods", RUNS)
    entry["pods_data"] = post_times(carol, f"{pages['history']}/pods", token, 5)
    logs_page = f"{base}/ui/environments/dev/logs/{BENCH_NS}/{pod}?tail={LOG_LINES}"
    entry["logs_page"] = page_times(carol, logs_page, RUNS)
    entry["logs_stream"] = first_line(
        carol,
        f"{base}/ui/environments/dev/logs/{BENCH_NS}/{pod}/stream?tail={LOG_LINES}",
        token,
    )
    entry["logs_stream"]["line_bytes"] = len(line) + 1
    entry["world"] = {
        "environments": 3,
        "releases_on_dev": RELEASES,
        "promotions": PROMOTIONS,
        "runs": RUNS,
    }
    return entry


def render_rows(e: dict[str, Any]) -> list[str]:
    rows = ["", "| ui_pages | p50 ms | bytes |", "|---|---|---|"]
    for name in (
        "environments",
        "releases",
        "history",
        "activity",
        "promotions",
        "promotion",
        "pods_page",
        "pods_data",
        "logs_page",
    ):
        rows.append(f"| {name} | {e[name]['p50_ms']} | {e[name]['bytes']} |")
    st = e["logs_stream"]
    rows.append("")
    rows.append(
        f"logs on demand: first line after {st['first_line_ms']} ms; {st['lines']} lines of "
        f"{st['line_bytes']} bytes moved {st['stream_bytes']} bytes as server-sent events"
    )
    return rows


def main() -> int:
    from bench.leftovers import removed_at_exit

    env, _ = env_or_up()
    with removed_at_exit():
        entry = run_entry(env)
    print(json.dumps({"ui_pages": entry}, indent=2))
    print("\n".join(render_rows(entry)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

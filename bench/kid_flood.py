"""`kid_flood` of `make bench`: issuance while anyone on the network floods the backend with
forged id_tokens (security review M1).

Flood: 40 clients, each one request every 100 ms for 10 s, to
`POST /api/v1/environments/dev/kubeconfig`, each with an id_token whose header names a random
unknown `kid`. Baseline: the same flood with the provider's real `kid` and a bad signature
(a signature check that fails: what any forged token costs). Each flood runs three times, in
the order A B B A A B, its clients in a process of their own. Meanwhile one legitimate
client (alice, a real login) issues a read kubeconfig every 100 ms. Reported: its p50
under each flood (its runs pooled), their ratio (target <= 1.5), its p50 with no flood
for scale, the flood's answers (every one must be a 401) and failures (a legitimate
issuance not answered 200, or a flood request answered otherwise than 401: target 0).

On a backend of its own, from this work tree (the stack's may run older code), with the
stack's issuer and raised per-user limits (serve_argv); stopped at the end. It registers
nothing; alice's session Secrets are the backend's to sweep once expired, as after
`backend_issue`.

`python -m bench.run kid_flood` runs this entry alone.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from typing import Any, NamedTuple

from bench.issue_load import BODY, _connection, _headers, _path, _post, percentile
from tests.stack.backend_daemon import spawn_backend
from tests.stack.paths import ROOT

CLIENTS = 40
INTERVAL_S = 0.1  # each client's pace, the legitimate one's too
FLOOD_S = 10.0
QUIET_S = 5.0  # the legitimate client alone, for scale
TARGET_RATIO = 1.5
# A B B A A B, runs pooled per flood: a machine that gets busier or quieter (the clusters
# run on it too) weighs on both floods alike.
A, B = "bad_signature", "unknown_kid"
ORDER = (A, B, B, A, A, B)
ENV_ID = "dev"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unknown_kid(id_token: str) -> Callable[[], str]:
    """Forged tokens as the attack sends them: a real token's claims, a random `kid`, no
    signature worth the name (none is checked before the key is found)."""
    _, payload, _ = id_token.split(".")

    def make() -> str:
        header = {"alg": "RS256", "kid": secrets.token_hex(8), "typ": "JWT"}
        return f"{_b64(json.dumps(header).encode())}.{payload}.{_b64(secrets.token_bytes(256))}"

    return make


def bad_signature(id_token: str) -> Callable[[], str]:
    """The baseline: the real header (a known `kid`) and claims, a random signature of the
    right length, so each request costs the backend a failing signature check."""
    header, payload, sig = id_token.split(".")
    length = len(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))

    def make() -> str:
        return f"{header}.{payload}.{_b64(secrets.token_bytes(length))}"

    return make


class Paced:
    """One client: a request every INTERVAL_S on one kept-alive connection until `stop`,
    the next one at once when an answer took longer (a closed loop, as clients are)."""

    def __init__(self, url: str, token: Callable[[], str], stop: threading.Event) -> None:
        self.url, self.token, self.stop = url, token, stop
        self.statuses: list[int] = []  # 0: the connection broke
        self.latencies: list[float] = []

    def run(self) -> None:
        conn = _connection(self.url)
        path = _path(ENV_ID)
        next_at = time.perf_counter()
        try:
            while not self.stop.is_set():
                t = time.perf_counter()
                try:
                    status = _post(conn, path, BODY, _headers(self.token()))
                except (OSError, HTTPException):
                    conn.close()
                    status = 0
                self.latencies.append(time.perf_counter() - t)
                self.statuses.append(status)
                next_at += INTERVAL_S
                self.stop.wait(max(0.0, next_at - time.perf_counter()))
        finally:
            conn.close()


class Phase(NamedTuple):
    legit: list[tuple[int, float]]  # (status, seconds) of each legitimate issuance
    flood: list[int]  # the status of each flooding request


FLOODS: dict[str, Callable[[str], Callable[[], str]]] = {
    "bad_signature": bad_signature,
    "unknown_kid": unknown_kid,
}


def phase(url: str, id_token: str, flood: str | None, seconds: float) -> Phase:
    """The legitimate client for `seconds`, beside CLIENTS flooding ones (FLOODS[flood])
    if `flood`. The flooding clients run in a process of their own: in this one they would
    take the interpreter lock from the legitimate client and lengthen its timings."""
    if flood is None:
        return Phase(_legit(url, id_token, seconds), [])
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.kid_flood", "flood", flood, str(seconds), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(id_token + "\n")  # on stdin: a token never goes into argv
        child.stdin.close()
        if child.stdout.readline().strip() != "started":
            raise RuntimeError("kid_flood: the flooding process did not start")
        legit = _legit(url, id_token, seconds)
        statuses = json.loads(child.stdout.read())
    finally:
        if child.wait(seconds + 120) != 0:
            raise RuntimeError(f"kid_flood: the flooding process exited {child.returncode}")
    return Phase(legit, statuses)


def _legit(url: str, id_token: str, seconds: float) -> list[tuple[int, float]]:
    stop = threading.Event()
    legit = Paced(url, lambda: id_token, stop)
    worker = threading.Thread(target=legit.run)
    worker.start()
    stop.wait(seconds)
    stop.set()
    worker.join()
    return list(zip(legit.statuses, legit.latencies, strict=True))


def _flood(kind: str, seconds: float, url: str) -> int:
    """The flooding process: CLIENTS clients for `seconds`; prints `started`, then the
    status of every request as a JSON list. The id_token the forgeries copy is on stdin."""
    make = FLOODS[kind](sys.stdin.readline().strip())
    stop = threading.Event()
    clients = [Paced(url, make, stop) for _ in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(c.run) for c in clients]
        print("started", flush=True)
        stop.wait(seconds)
        stop.set()
        for f in running:
            f.result()
    print(json.dumps([status for c in clients for status in c.statuses]))
    return 0


def summary(phases: list[Phase], seconds: float) -> dict[str, Any]:
    legit = [x for p in phases for x in p.legit]
    ok = [dt for status, dt in legit if status == 200]
    answers: dict[str, int] = {}
    for status in (s for p in phases for s in p.flood):
        answers[str(status)] = answers.get(str(status), 0) + 1
    flooded = sum(answers.values())
    return {
        "legit_requests": len(legit),
        "legit_failures": len(legit) - len(ok),
        "legit_p50_ms": round(percentile(ok, 50) * 1000, 1) if ok else None,
        "legit_p99_ms": round(percentile(ok, 99) * 1000, 1) if ok else None,
        "flood_requests": flooded,
        "flood_rps": round(flooded / (seconds * len(phases)), 1),
        "flood_answers": answers,
        "flood_unexpected": sum(n for s, n in answers.items() if s != "401"),
    }


def run_entry(stack_env: dict[str, str], id_token: str) -> dict[str, Any]:
    print("bench: kid_flood", file=sys.stderr)
    own = spawn_backend(
        stack_env["STACK_IDP_ISSUER"], stack_env["STACK_IDP_CLIENT_ID"], name="bench-kids"
    )
    runs: dict[str, list[Phase]] = {"bad_signature": [], "unknown_kid": []}
    try:
        phase(own.url, id_token, None, 1.0)  # warm-up: connections, alice's ServiceAccount
        quiet = summary([phase(own.url, id_token, None, QUIET_S)], QUIET_S)
        for name in ORDER:
            runs[name].append(phase(own.url, id_token, name, FLOOD_S))
    finally:
        own.stop()
    baseline = summary(runs["bad_signature"], FLOOD_S)
    unknown = summary(runs["unknown_kid"], FLOOD_S)
    ratio = None
    if unknown["legit_p50_ms"] and baseline["legit_p50_ms"]:
        ratio = round(unknown["legit_p50_ms"] / baseline["legit_p50_ms"], 2)
    failures = sum(p["legit_failures"] + p["flood_unexpected"] for p in (quiet, baseline, unknown))
    return {
        "clients": CLIENTS,
        "interval_ms": int(INTERVAL_S * 1000),
        "seconds": FLOOD_S,
        "floods_each": len(ORDER) // 2,
        "quiet": quiet,
        "bad_signature": baseline,
        "unknown_kid": unknown,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "failures": failures,
    }


def render_rows(e: dict[str, Any]) -> list[str]:
    b, u = e["bad_signature"], e["unknown_kid"]
    return [
        f"kid_flood: legitimate issuance p50 {u['legit_p50_ms']} ms under {e['clients']} "
        f"clients sending unknown kids every {e['interval_ms']} ms ({u['flood_rps']} req/s, "
        f"{e['floods_each']} x {e['seconds']:.0f} s) "
        f"beside {b['legit_p50_ms']} ms under the same flood with a known kid and a bad "
        f"signature ({e['ratio']}x; target <= {e['target_ratio']}x); "
        f"{e['quiet']['legit_p50_ms']} ms with no flood; {e['failures']} failures",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "flood":
        sys.exit(_flood(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
    print("usage: python -m bench.run kid_flood", file=sys.stderr)
    sys.exit(2)

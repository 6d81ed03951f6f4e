"""HTTP load for the fleet entries: listings and issuances by many users, each client on one
kept-alive connection (bench/issue_load.py's clients), with p50/p99 and the load average."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException
from typing import Any

from bench.fleet_world import load_average
from bench.issue_load import BODY, _connection, _headers, _path, percentile

LISTING = "/api/v1/environments"


def summary(latencies: Sequence[float], errors: int = 0, elapsed: float = 0.0) -> dict[str, Any]:
    """p50/p99 in ms, the count, errors, rps (when `elapsed`), and the load average now."""
    out: dict[str, Any] = {
        "requests": len(latencies) + errors,
        "p50_ms": round(percentile(list(latencies), 50) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(list(latencies), 99) * 1000, 1) if latencies else None,
        "errors": errors,
        "load": load_average(),
    }
    if elapsed:
        out["rps"] = round(len(latencies) / elapsed, 1)
    return out


class Client:
    """One client of the backend on one kept-alive connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = _connection(url)

    def call(self, method: str, path: str, token: str, body: bytes | None) -> tuple[int, bytes]:
        headers = _headers(token)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            return resp.status, resp.read()
        except (OSError, HTTPException):
            self.conn.close()
            self.conn = _connection(self.url)
            return 0, b""

    def listing(self, token: str) -> tuple[float, list[str] | None]:
        """(seconds, the environment ids listed, None unless answered 200)."""
        t = time.perf_counter()
        status, body = self.call("GET", LISTING, token, None)
        dt = time.perf_counter() - t
        if status != 200:
            return dt, None
        doc = json.loads(body)
        items = doc.get("items", doc) if isinstance(doc, dict) else doc
        return dt, [str(e["id"]) for e in items]

    def issue(self, token: str, env_id: str) -> tuple[float, bool]:
        t = time.perf_counter()
        status, _ = self.call("POST", _path(env_id), token, BODY)
        return time.perf_counter() - t, status == 200

    def close(self) -> None:
        self.conn.close()


def issuances(
    url: str, tasks: Sequence[tuple[str, str]], concurrency: int, token: Callable[[str], str]
) -> tuple[list[float], int, float]:
    """Each (user, env) of `tasks` issued once, `concurrency` clients taking the next task
    from a shared queue; returns (latencies of the issued ones in task order, errors,
    elapsed seconds)."""
    latencies: list[float | None] = [None] * len(tasks)
    lock = threading.Lock()
    stop = threading.Event()  # set on Ctrl-C or SIGTERM: the clients stop at once
    next_task = 0

    def worker() -> None:
        nonlocal next_task
        c = Client(url)
        try:
            while not stop.is_set():
                with lock:
                    i = next_task
                    next_task += 1
                if i >= len(tasks):
                    return
                user, env_id = tasks[i]
                dt, ok = c.issue(token(user), env_id)
                latencies[i] = dt if ok else None
        finally:
            c.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        try:
            for f in [pool.submit(worker) for _ in range(concurrency)]:
                f.result()
        except BaseException:
            stop.set()
            raise
    elapsed = time.perf_counter() - started
    ok = [x for x in latencies if x is not None]
    return ok, len(tasks) - len(ok), elapsed

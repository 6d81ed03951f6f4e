"""Prometheus metrics in the text exposition format, kept in process (per replica)."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._issuances: dict[str, int] = defaultdict(int)
        self._denials: dict[str, int] = defaultdict(int)
        self._bucket_counts = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0

    def request(self, route: str, code: int, seconds: float) -> None:
        with self._lock:
            self._requests[(route, str(code))] += 1
            self._count += 1
            self._sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._bucket_counts[i] += 1

    def issuance(self, environment: str) -> None:
        with self._lock:
            self._issuances[environment] += 1

    def denial(self, reason: str) -> None:
        with self._lock:
            self._denials[reason] += 1

    def render(self) -> str:
        with self._lock:
            out = [
                "# HELP scipian_requests_total HTTP requests by route and status code.",
                "# TYPE scipian_requests_total counter",
            ]
            for (route, code), n in sorted(self._requests.items()):
                out.append(f'scipian_requests_total{{route="{_esc(route)}",code="{code}"}} {n}')
            out += [
                "# HELP scipian_issuances_total Credentials issued, by environment.",
                "# TYPE scipian_issuances_total counter",
            ]
            for env, n in sorted(self._issuances.items()):
                out.append(f'scipian_issuances_total{{environment="{_esc(env)}"}} {n}')
            out += [
                "# HELP scipian_denials_total Requests denied, by reason.",
                "# TYPE scipian_denials_total counter",
            ]
            for reason, n in sorted(self._denials.items()):
                out.append(f'scipian_denials_total{{reason="{_esc(reason)}"}} {n}')
            out += [
                "# HELP scipian_request_duration_seconds HTTP request latency.",
                "# TYPE scipian_request_duration_seconds histogram",
            ]
            for bound, n in zip(BUCKETS, self._bucket_counts, strict=True):
                out.append(f'scipian_request_duration_seconds_bucket{{le="{bound}"}} {n}')
            out.append(f'scipian_request_duration_seconds_bucket{{le="+Inf"}} {self._count}')
            out.append(f"scipian_request_duration_seconds_sum {self._sum:.6f}")
            out.append(f"scipian_request_duration_seconds_count {self._count}")
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

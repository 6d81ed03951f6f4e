"""Prometheus metrics through prometheus_client, kept in process (per replica).

Each Metrics owns its registry (not the library's global one), so several apps live in one
process, as create_app promises. The names and labels are docs/api.md's.

`/metrics` answers without authentication, so an `environment` label says only `gated` or
`ungated` (whether the environment has a promotion gate) unless `serve --metrics-detail`
asks for environment ids: ids named there would tell anyone on the network which
environments exist and how busy each is.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The `_created` series (one per label set) would double the exposition for nothing a
# scraper of this service uses; rate() needs only the counters.
disable_created_metrics()  # type: ignore[no-untyped-call]


def environment_label(env_id: str, gated: bool, detail: bool) -> str:
    """What a series' `environment` label says (pure)."""
    if detail:
        return env_id
    return "gated" if gated else "ungated"


class Metrics:
    def __init__(self, detail: bool = False) -> None:
        self.detail = detail  # environment ids in labels (serve --metrics-detail)
        self.registry = CollectorRegistry(auto_describe=False)
        self._requests = Counter(
            "scipian_requests",
            "HTTP requests by route and status code.",
            ("route", "code"),
            registry=self.registry,
        )
        self._issuances = Counter(
            "scipian_issuances",
            "Credentials issued, by environment and level (read, deploy).",
            ("environment", "level"),
            registry=self.registry,
        )
        self._break_glass = Counter(
            "scipian_break_glass",
            "Break-glass deploy credentials granted (each one recorded before it is issued).",
            ("environment",),
            registry=self.registry,
        )
        self._denials = Counter(
            "scipian_denials",
            "Requests denied, by reason and level (read, deploy).",
            ("reason", "level"),
            registry=self.registry,
        )
        self._promotions = Counter(
            "scipian_promotions",
            "Promotions finished, by outcome (Succeeded, Failed).",
            ("outcome",),
            registry=self.registry,
        )
        self._claims = Gauge(
            "scipian_worker_claims",
            "Execution Leases this replica holds (worker/room.py).",
            registry=self.registry,
        )
        self._reviews = Counter(
            "scipian_subject_access_reviews",
            "SubjectAccessReviews asked of mgmt, by scope (named: one object; all: no name).",
            ("scope",),
            registry=self.registry,
        )
        self._turns = Counter(
            "scipian_worker_turns",
            "Worker turns and periodic task runs, by kind and outcome (ok, failed).",
            ("kind", "outcome"),
            registry=self.registry,
        )
        self._notifications = Counter(
            "scipian_notifications",
            "Notifications (serve --notify-url) by outcome: sent, failed (every try), "
            "dropped (the queue was full), invalid (an unknown type).",
            ("outcome",),
            registry=self.registry,
        )
        self._cleanup_removed = Counter(
            "scipian_cleanup_removed",
            "Objects the cleanup removed (cleanup/), by kind: sessionSecrets, serviceAccounts, "
            "bindings, promotions, accessRequests, events.",
            ("kind",),
            registry=self.registry,
        )
        self._duration = Histogram(
            "scipian_request_duration_seconds",
            "HTTP request latency.",
            buckets=BUCKETS,
            registry=self.registry,
        )

    def request(self, route: str, code: int, seconds: float) -> None:
        self._requests.labels(route, str(code)).inc()
        self._duration.observe(seconds)

    def issuance(self, environment: str, level: str = "read", gated: bool = False) -> None:
        self._issuances.labels(environment_label(environment, gated, self.detail), level).inc()

    def break_glass(self, environment: str, gated: bool) -> None:
        self._break_glass.labels(environment_label(environment, gated, self.detail)).inc()

    def denial(self, reason: str, level: str = "read") -> None:
        self._denials.labels(reason, level).inc()

    def promotion(self, outcome: str) -> None:
        self._promotions.labels(outcome).inc()

    def subject_access_review(self, named: bool) -> None:
        self._reviews.labels("named" if named else "all").inc()

    def worker_claims(self, held: int) -> None:
        self._claims.set(held)

    def worker_turn(self, kind: str, outcome: str) -> None:
        self._turns.labels(kind, outcome).inc()

    def notification(self, outcome: str) -> None:
        self._notifications.labels(outcome).inc()

    def cleanup_removed(self, kind: str, n: int) -> None:
        self._cleanup_removed.labels(kind).inc(n)

    def render(self) -> str:
        return generate_latest(self.registry).decode()

    def exposition(self) -> tuple[bytes, str]:
        """The body of GET /metrics and its content type (the text format, 0.0.4)."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

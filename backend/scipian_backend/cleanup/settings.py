"""The cleanup's numbers (`serve --cleanup-*`, `--identity-idle-days`,
`--finished-retention-days`; the same flags on `python -m scipian_backend cleanup`)."""

from __future__ import annotations

from dataclasses import dataclass

from scipian_backend.errors import ConfigError


@dataclass(frozen=True)
class CleanupSettings:
    enabled: bool = True  # serve --no-cleanup: this replica's worker room does not run it
    interval_seconds: float = 3600.0
    identity_idle_days: int = 30  # from scipian.io/last-issued-day
    finished_retention_days: int = 90  # Promotions and AccessRequests, the objects only
    event_retention_days: int = 30  # the backend's Events on mgmt, by lastTimestamp
    events_per_object: int = 1000  # the newest kept per involved object
    parallelism: int = 8  # deletes in flight at once (and targets swept at once, at most 4)
    target_timeout_seconds: float = 300.0  # one target's share of a pass
    page_size: int = 500  # `limit` of every list
    # A binding younger than this is never removed as an orphan (its ServiceAccount may be
    # being created beside it, after this pass listed the ServiceAccounts).
    binding_grace_seconds: float = 600.0

    def check(self) -> None:
        bounds: tuple[tuple[str, float, float, float], ...] = (
            ("--cleanup-interval-seconds", self.interval_seconds, 1, 7 * 86400),
            ("--identity-idle-days", self.identity_idle_days, 1, 3650),
            ("--finished-retention-days", self.finished_retention_days, 1, 3650),
            ("--event-retention-days", self.event_retention_days, 1, 3650),
            ("--events-per-object", self.events_per_object, 1, 100000),
            ("--cleanup-parallelism", self.parallelism, 1, 64),
            ("--cleanup-target-timeout-seconds", self.target_timeout_seconds, 1, 3600),
            ("--cleanup-page-size", self.page_size, 10, 5000),
            ("--cleanup-binding-grace-seconds", self.binding_grace_seconds, 0, 86400),
        )
        for flag, value, low, high in bounds:
            if not low <= value <= high:
                raise ConfigError(f"{flag} must be between {low:g} and {high:g}")

"""The dashboard's state shared by every replica (docs/decisions/dashboard-state.md):
sessions and sealing keys on mgmt, and the per-client bound on sign-ins."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from kubernetes import client

from scipian_backend.config import Settings
from scipian_backend.errors import ApiError
from scipian_backend.ratelimit import RateLimiter, parse_rate
from scipian_backend.ui.sealing_keys import SealingKeys
from scipian_backend.ui.sessions_store import DashboardSessions
from scipian_backend.worker.room import WorkerRoom

log = logging.getLogger("scipian.ui")
DEFAULT_LOGIN_BURST = 60


@dataclass
class DashboardState:
    sessions: DashboardSessions
    keys: SealingKeys
    # Sign-ins (/ui/login, /ui/callback) per client address: request.client.host, which is
    # the X-Forwarded-For address when the peer is a trusted proxy (--forwarded-allow-ips).
    logins: RateLimiter | None


def dashboard_state(
    settings: Settings, mgmt: client.ApiClient, worker: WorkerRoom | None
) -> DashboardState:
    timeout = settings.http_timeout_seconds
    keys = SealingKeys(
        mgmt, settings.ui_keys_secret, timeout=timeout, cache_seconds=settings.ui_key_cache_seconds
    )
    sessions = DashboardSessions(mgmt, timeout=timeout, per_user=settings.ui_sessions_per_user)
    rate = parse_rate(
        settings.ui_login_rate_limit,
        settings.ui_login_rate_limit_burst,
        "--ui-login-rate-limit",
        DEFAULT_LOGIN_BURST,
    )
    logins = RateLimiter(rate, what="sign-ins from this address") if rate else None
    try:
        # At start-up, so that no request (none is authenticated at sign-in) ever writes.
        keys.ensure(datetime.now(timezone.utc))
    except ApiError as e:
        log.warning("dashboard: cannot read or create its sealing keys yet: %s", e.message)
    if worker is not None:
        rotation = settings.ui_key_rotation_seconds
        every = min(rotation / 4, 3600.0) if rotation else 3600.0
        worker.add_periodic("dashboard-keys", every, keys.periodic(rotation))
        worker.add_periodic("dashboard-sessions", settings.ui_session_sweep_seconds, sessions.sweep)
    return DashboardState(sessions, keys, logins)

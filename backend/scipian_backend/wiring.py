"""The one production wiring: settings → clients → collaborators → Backend."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kubernetes import client

from scipian_backend import kube
from scipian_backend.accessrequests import records as requests
from scipian_backend.accessrequests.grants import Grants
from scipian_backend.accessrequests.service import AccessRequests
from scipian_backend.accessrequests.sessions import RequestSessions
from scipian_backend.accessrequests.store import AccessRequestStore
from scipian_backend.accessrequests.worker import AccessRequestWorker
from scipian_backend.artifacts.store import ArtifactStore
from scipian_backend.artifacts.upload import Uploads
from scipian_backend.audit.events import Auditor
from scipian_backend.audit.notify import Notifier
from scipian_backend.audit.pending import (
    PendingApprovals,
    awaiting_promotion_steps,
    pending_requests,
)
from scipian_backend.breakglass.service import BreakGlass
from scipian_backend.breakglass.status import EnvironmentStatus
from scipian_backend.config import ARTIFACTS_NAMESPACE, Settings
from scipian_backend.environments.cache import EnvironmentCache
from scipian_backend.environments.lookups import TtlCache
from scipian_backend.environments.store import Environment, Store
from scipian_backend.helmrun.sandbox import HelmSandbox
from scipian_backend.identity.authn import KeySet, Verifier
from scipian_backend.identity.authz import Authorizer
from scipian_backend.identity.rbac_index import RbacIndex
from scipian_backend.metrics import Metrics
from scipian_backend.minting.minter import Minter, TargetClients
from scipian_backend.promotions.deadlines import Limits
from scipian_backend.promotions.diff_routes import StepDiffs
from scipian_backend.promotions.executor import PromotionExecutor
from scipian_backend.promotions.executor import Settings as ExecutorSettings
from scipian_backend.promotions.lock import ReleaseLock
from scipian_backend.promotions.service import Promotions
from scipian_backend.promotions.store import PromotionStore
from scipian_backend.promotions.values import ValuesStore
from scipian_backend.promotions.verify import StepVerifier
from scipian_backend.ratelimit import (
    DEFAULT_BURST,
    RateLimiter,
    limited_counter,
    parse_rate,
    route_limiters,
)
from scipian_backend.releases.reader import ReleaseReader
from scipian_backend.releases.records import DecodeLimits
from scipian_backend.usecases import Backend
from scipian_backend.worker.room import WorkerRoom

log = logging.getLogger("scipian.wiring")
# Said once at start-up by a replica without a worker room (--no-worker): the worker room
# revokes request credentials at their window's end (accessrequests/worker.py).
NO_WORKER_WARNING = (
    "warning: no worker room on this replica (--no-worker): credentials issued under "
    "access requests are revoked at their window's end only by a replica that runs one; "
    "without any, they live until they expire"
)


def helm_sandbox(settings: Settings) -> HelmSandbox | None:
    if not settings.helm:
        return None
    return HelmSandbox(
        settings.helm,
        settings.helm_scratch_dir,
        max_runs=settings.helm_max_runs,
        memory_bytes=settings.helm_memory_bytes,
        cpu_seconds=settings.helm_cpu_seconds,
        term_grace=settings.helm_term_grace_seconds,
        wait_slot=settings.helm_wait_slot_seconds,
        output_bytes=settings.helm_output_bytes,
        scratch_bytes=settings.helm_scratch_bytes,
    )


def build_backend(settings: Settings) -> Backend:
    mgmt = kube.mgmt_client(settings.mgmt_kubeconfig)
    timeout = settings.http_timeout_seconds
    store = Store(mgmt, timeout)
    keys = KeySet(settings)

    metrics = Metrics(detail=settings.metrics_detail)
    rate = parse_rate(settings.rate_limit, settings.rate_limit_burst, most=DEFAULT_BURST)
    limiter = RateLimiter(rate, on_limited=limited_counter(metrics)) if rate else None
    limiters = route_limiters(
        metrics,
        read=(settings.read_rate_limit, settings.read_rate_limit_burst),
        write=(settings.write_rate_limit, settings.write_rate_limit_burst),
    )

    lookups: TtlCache[tuple[Environment, Any]] = TtlCache(settings.lookup_ttl_seconds)
    env_cache = (
        EnvironmentCache(mgmt, store, timeout, on_change=_invalidator(lookups))
        if settings.environment_cache
        else None
    )

    def uid_of(env_id: str) -> str | None:
        env = env_cache.get(env_id) if env_cache is not None else store.get(env_id)
        return env.uid if env else None

    targets = TargetClients(store)
    limits = DecodeLimits(
        max_payload=settings.release_record_max_bytes,
        max_decompressed=settings.release_record_max_decompressed,
        max_depth=settings.release_record_max_depth,
        concurrency=settings.release_record_decode_concurrency,
    )
    reader = ReleaseReader(targets, timeout=timeout, limits=limits)
    backend = Backend(
        settings=settings,
        keys=keys,
        verifier=Verifier(settings, keys),
        authorizer=Authorizer(mgmt, timeout, on_review=metrics.subject_access_review),
        store=store,
        minter=Minter(
            targets,
            settings.sessions_namespace,
            timeout=timeout,
            ensured_ttl=settings.ensured_ttl_seconds,
        ),
        auditor=Auditor(
            mgmt,
            settings.event_namespace,
            lookup_uid=uid_of,
            flush_interval=settings.event_flush_seconds,
        ),
        metrics=metrics,
        limiter=limiter,
        route_limiters=limiters,
        lookup_cache=lookups,
        env_cache=env_cache,
        rbac_index=RbacIndex(mgmt, timeout) if settings.rbac_index else None,
        release_reader=reader,
    )
    if settings.notify_url:
        backend.notifier = Notifier(
            settings.notify_url,
            on_outcome=metrics.notification,
            queue_size=settings.notify_queue,
            timeout=settings.notify_timeout_seconds,
            retries=settings.notify_retries,
        )
    backend.helm = helm_sandbox(settings)
    if backend.helm is not None:
        archives = ArtifactStore(
            mgmt,
            ARTIFACTS_NAMESPACE,
            timeout,
            unreferenced=timedelta(seconds=settings.chart_unreferenced_seconds),
            after_use=timedelta(seconds=settings.chart_after_use_seconds),
        )
        backend.artifacts = Uploads(backend, archives)
    promotions = PromotionStore(mgmt, timeout)
    lock = ReleaseLock(mgmt, settings.namespace, timeout)
    values = ValuesStore(mgmt, timeout)
    backend.promotions = Promotions(backend, promotions, lock, values)
    requests = AccessRequestStore(mgmt, timeout)
    metrics.registry.register(
        PendingApprovals(
            {
                "promotion": lambda: awaiting_promotion_steps(promotions.list()),
                "request": lambda: pending_requests(requests.list()),
            },
            settings.pending_approvals_cache_seconds,
        )
    )
    backend.diffs = StepDiffs(backend, promotions, values, settings.promotion_diff_cache)
    backend.break_glass = BreakGlass(
        backend, EnvironmentStatus(mgmt, timeout), settings.break_glass_history
    )
    backend.access_requests = AccessRequests(backend, requests)
    backend.replica = settings.worker.replica_id
    backend.worker = _worker_room(settings, mgmt, backend.replica, metrics)
    _access_requests(backend, mgmt)
    if backend.worker is not None and backend.helm is not None:
        # Every promotion step is executed here (change.md §5): only with helm to run.
        backend.worker.add_kind(
            PromotionExecutor(
                backend,
                promotions,
                lock,
                StepVerifier(reader, timeout, limits),
                values,
                backend.helm,
                mgmt,
                replica=backend.replica,
                settings=ExecutorSettings(
                    limits=Limits(
                        settings.promotion_approval_seconds, settings.promotion_idle_factor
                    ),
                    soak_check_seconds=settings.promotion_soak_check_seconds,
                ),
            )
        )
    if backend.worker is not None and backend.artifacts is not None:
        # Unused chart archives go (artifacts/store.py), one replica at a time.
        backend.worker.add_periodic(
            "chart-archives", settings.chart_collect_seconds, backend.artifacts.collect
        )
    if backend.worker is not None and settings.cleanup.enabled:
        # Nothing left behind (cleanup/): expired sessions, idle identities, old records.
        from scipian_backend.cleanup.run import Cleanup, stderr_log

        stderr_log()

        cleanup = Cleanup(
            mgmt,
            settings.cleanup,
            settings.sessions_namespace,
            settings.event_namespace,
            metrics=metrics,
            timeout=timeout,
        )
        backend.worker.add_periodic("cleanup", settings.cleanup.interval_seconds, cleanup.periodic)
    if settings.ui_client_id:
        # Sessions and sealing keys on mgmt (docs/decisions/dashboard-state.md).
        from scipian_backend.ui.state import dashboard_state

        backend.dashboard = dashboard_state(settings, mgmt, backend.worker)
    return backend


def _invalidator(lookups: TtlCache[Any]) -> Callable[[str | None], None]:
    """The Environment cache's watch events drop the (Environment, client) pairs they
    change; a (re-)list drops them all."""

    def changed(env_id: str | None) -> None:
        if env_id is None:
            lookups.clear()
        else:
            lookups.invalidate(env_id)

    return changed


def _access_requests(backend: Backend, mgmt: client.ApiClient) -> None:
    """Credentials under approved access requests, their revocation, and their clock."""
    settings = backend.settings
    timeout = settings.http_timeout_seconds
    found = kube.ClusterObjects(mgmt, requests.GROUP, requests.VERSION, requests.PLURAL, timeout)
    backend.grants = Grants(backend.authorizer, found.list)
    sessions = RequestSessions(backend.store, backend.minter, settings.sessions_namespace, timeout)
    backend.request_sessions = sessions
    if backend.worker is None:
        log.warning(NO_WORKER_WARNING)
    else:
        backend.worker.add_kind(
            AccessRequestWorker(
                backend,
                AccessRequestStore(mgmt, timeout),
                sessions,
                mgmt,
                replica=backend.replica,
                timeout=timeout,
            )
        )


def _worker_room(
    settings: Settings, mgmt: client.ApiClient, replica: str, metrics: Metrics
) -> WorkerRoom | None:
    """The room (started and stopped by the app's lifespan); kinds and periodic tasks are
    added to it here, by the pieces that own them."""
    w = settings.worker
    if not w.enabled:
        return None
    return WorkerRoom(
        mgmt,
        settings.namespace,
        replica,
        lease_seconds=w.lease_seconds,
        renew_seconds=w.renew_seconds,
        lost_after_seconds=w.lost_after_seconds,
        threads=w.threads,
        stop_seconds=w.stop_seconds,
        resync_seconds=w.resync_seconds,
        selector=w.selector,
        periodic_lease=w.periodic_lease,
        metrics=metrics,
        timeout=settings.http_timeout_seconds,
    )

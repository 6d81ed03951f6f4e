"""One cleanup pass over mgmt and every registered Environment's target.

Targets are grouped by cluster (the server of each Environment's broker kubeconfig): a
cluster that many Environments alias is listed once, with the first readable credential
of its group. Targets are swept a few at a time, each within its own deadline; deletes run
on one bounded pool. A target that fails is counted and logged and the pass goes on; only
an unreachable mgmt fails the pass. Each pass logs one line of counts and adds them to
`scipian_cleanup_removed_total{kind}`.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.accessrequests.sessions import request_key
from scipian_backend.cleanup import rules
from scipian_backend.cleanup.listing import OutOfTime, deleted, meta, pages
from scipian_backend.cleanup.settings import CleanupSettings
from scipian_backend.cleanup.targets import Keep, TargetSweep
from scipian_backend.config import GROUP, PLURAL, VERSION
from scipian_backend.environments.store import Environment, Store, parse_environment
from scipian_backend.errors import ApiError, ServiceUnavailable
from scipian_backend.identity import names
from scipian_backend.metrics import Metrics
from scipian_backend.minting.identities import Identities

log = logging.getLogger("scipian.cleanup")
REQUEST_FINALIZER = "scipian.io/access-request"  # accessrequests/records.py FINALIZER
TARGETS_AT_ONCE = 4


@dataclass
class Target:
    server: str
    environments: list[str] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)  # kubeconfig documents
    api: client.ApiClient | None = None
    failed: bool = False


def server_of(doc: object) -> str:
    """The server a kubeconfig document's current context points at ("" if none)."""
    if not isinstance(doc, dict):
        return ""
    current = doc.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    ctx = contexts.get(current) or (next(iter(contexts.values())) if len(contexts) == 1 else {})
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    server = (clusters.get(ctx.get("cluster")) or {}).get("server") if ctx else None
    return server.rstrip("/") if isinstance(server, str) else ""


def stderr_log() -> None:
    """serve: the pass's lines on stderr whatever the root logger's level (it has no
    handler there: uvicorn configures only its own loggers). One handler, however often."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class Cleanup:
    def __init__(
        self,
        mgmt: client.ApiClient,
        settings: CleanupSettings,
        sessions_namespace: str,
        event_namespace: str,
        *,
        metrics: Metrics | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._mgmt = mgmt
        self._custom = client.CustomObjectsApi(mgmt)
        self._core = client.CoreV1Api(mgmt)
        self._store = Store(mgmt, timeout)
        self._s = settings
        self._sessions_ns = sessions_namespace
        self._event_ns = event_namespace
        self._metrics = metrics
        self._timeout = timeout

    def periodic(self, now: datetime) -> None:
        """The worker room's task (wiring.py)."""
        self.run(now)

    def run(self, now: datetime) -> rules.Counts:
        """One pass as of `now` (the CLI may move it ahead). ServiceUnavailable when mgmt
        could not be read."""
        started = time.monotonic()
        counts = rules.Counts()
        with ThreadPoolExecutor(self._s.parallelism, "scipian-cleanup") as pool:
            promotions, requests = self._records()
            keep = Keep(rules.busy_promotions(promotions), rules.open_requests(requests, now))
            targets, apis = self._targets(pool)
            counts.merge(self._sweep_targets(targets, pool, now, keep))
            for t in targets:
                if t.failed:  # its requests' credentials could not be checked: they wait
                    apis.update(dict.fromkeys(t.environments))
            self._finished_promotions(promotions, now, counts, pool)
            self._finished_requests(requests, now, counts, apis)
            self._events(now, counts, pool)
        took = time.monotonic() - started
        log.info("%s in %.1f s", counts.line(), took)
        if self._metrics is not None:
            for kind, n in counts.removed.items():
                self._metrics.cleanup_removed(kind, n)
        return counts

    # --- mgmt -----------------------------------------------------------------------------

    def _all(self, plural: str, deadline: float) -> list[dict[str, Any]]:
        return list(
            pages(
                self._custom.list_cluster_custom_object,
                GROUP,
                VERSION,
                plural,
                page_size=self._s.page_size,
                timeout=self._timeout,
                deadline=deadline,
            )
        )

    def _records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        deadline = time.monotonic() + self._s.target_timeout_seconds
        try:
            return self._all("promotions", deadline), self._all("accessrequests", deadline)
        except (ApiException, HTTPError, OSError, ValueError, OutOfTime) as e:
            raise ServiceUnavailable(f"management cluster unavailable ({_describe(e)})") from None

    def _finished_promotions(
        self, promotions: list[dict[str, Any]], now: datetime, counts: rules.Counts, pool: Executor
    ) -> None:
        jobs = []
        kept = 0
        for p in promotions:
            if not rules.expired_record(
                rules.promotion_finished_at(p), now, self._s.finished_retention_days
            ):
                continue
            m = meta(p)
            if m.get("finalizers") or m.get("deletionTimestamp"):
                kept += 1  # the executor's to finish (its step identities); next pass
                continue
            jobs.append(pool.submit(self._delete_record, "promotions", m))
        counts.add("promotions", _sum(jobs, "promotion"))
        if kept:
            log.info("cleanup: %d finished promotions still hold a finalizer", kept)

    def _finished_requests(
        self,
        requests: list[dict[str, Any]],
        now: datetime,
        counts: rules.Counts,
        apis: dict[str, client.ApiClient | None],
    ) -> None:
        """Deletes what the request's finalizer stands for (its credentials on its target),
        then the finalizer, then the object: one pass leaves nothing Terminating, with or
        without an access worker running."""
        for obj in requests:
            if not rules.expired_record(
                rules.request_finished_at(obj), now, self._s.finished_retention_days
            ):
                continue
            try:
                if not self._revoke(obj, apis):
                    continue
                m = meta(obj)
                finalizers = list(m.get("finalizers") or [])
                if REQUEST_FINALIZER in finalizers:
                    patch = {
                        "metadata": {
                            "finalizers": [f for f in finalizers if f != REQUEST_FINALIZER],
                            "resourceVersion": m.get("resourceVersion"),
                        }
                    }
                    self._custom.patch_cluster_custom_object(
                        GROUP, VERSION, "accessrequests", str(m.get("name")), patch,
                        _request_timeout=self._timeout,
                    )  # fmt: skip
                counts.add("accessRequests", max(0, self._delete_record("accessrequests", m)))
            except (ApiException, HTTPError, OSError, ValueError) as e:
                if kube.status_of(e) not in (404, 409):  # gone or changed: next pass
                    log.warning("cleanup: an access request not deleted (%s)", _describe(e))

    def _revoke(self, obj: dict[str, Any], apis: dict[str, client.ApiClient | None]) -> bool:
        """The request's session Secrets and identity on its target are gone (True), or
        its target could not be reached in this pass (False: the request waits)."""
        key = request_key(obj)
        if key is None or key.environment not in apis:
            return True  # no identity, or its Environment was unregistered (and with it)
        api = apis[key.environment]
        if api is None:
            return False
        core = client.CoreV1Api(api)
        selector = names.access_request_selector(names.request_of(key.source))
        deadline = time.monotonic() + self._s.target_timeout_seconds
        for s in pages(
            core.list_namespaced_secret,
            self._sessions_ns,
            page_size=self._s.page_size,
            timeout=self._timeout,
            deadline=deadline,
            label_selector=selector,
        ):
            name = str(meta(s).get("name") or "")
            deleted(core.delete_namespaced_secret, name, self._sessions_ns,
                    _request_timeout=self._timeout)  # fmt: skip
        Identities(api, self._sessions_ns, self._timeout).delete(key.account)
        return True

    def _delete_record(self, plural: str, m: dict[str, Any]) -> int:
        """Deletes a record only if it is still the one judged (uid precondition)."""
        return deleted(
            self._custom.delete_cluster_custom_object,
            GROUP,
            VERSION,
            plural,
            str(m.get("name") or ""),
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=m.get("uid"))),
            _request_timeout=self._timeout,
        )

    def _events(self, now: datetime, counts: rules.Counts, pool: Executor) -> None:
        deadline = time.monotonic() + self._s.target_timeout_seconds
        try:
            events = list(
                pages(
                    self._core.list_namespaced_event,
                    self._event_ns,
                    page_size=self._s.page_size,
                    timeout=self._timeout,
                    deadline=deadline,
                    field_selector=f"source={rules.BACKEND_COMPONENT}",
                )
            )
        except (ApiException, HTTPError, OSError, ValueError, OutOfTime) as e:
            log.warning("cleanup: Events not listed (%s)", _describe(e))
            return
        doomed = rules.events_to_delete(
            events, now, self._s.event_retention_days, self._s.events_per_object
        )
        jobs = [
            pool.submit(
                deleted,
                self._core.delete_namespaced_event,
                str(meta(ev).get("name") or ""),
                self._event_ns,
                _request_timeout=self._timeout,
            )
            for ev in doomed
        ]
        counts.add("events", _sum(jobs, "event"))

    # --- targets --------------------------------------------------------------------------

    def _environments(self) -> list[Environment]:
        deadline = time.monotonic() + self._s.target_timeout_seconds
        try:
            return [parse_environment(o) for o in self._all(PLURAL, deadline)]
        except (ApiException, HTTPError, OSError, ValueError, OutOfTime) as e:
            raise ServiceUnavailable(f"management cluster unavailable ({_describe(e)})") from None

    def _targets(self, pool: Executor) -> tuple[list[Target], dict[str, client.ApiClient | None]]:
        """Environments grouped by cluster; env id -> its cluster's client (None: the
        cluster failed in this pass)."""
        envs = self._environments()
        docs = list(pool.map(self._credential, envs))
        by_server: dict[str, Target] = {}
        unknown = []
        for env, doc in zip(envs, docs, strict=True):
            server = server_of(doc)
            if not server:
                unknown.append(env.id)
                continue
            t = by_server.setdefault(server, Target(server))
            t.environments.append(env.id)
            t.credentials.append(doc)  # type: ignore[arg-type]
        targets = list(by_server.values())
        for env_id in unknown:  # a credential unreadable: counted as a target that failed
            targets.append(Target("", [env_id], failed=True))
        for t in targets:
            if not t.failed:
                t.api = self._client(t)
                t.failed = t.api is None
        apis: dict[str, client.ApiClient | None] = {}
        for t in targets:
            for env_id in t.environments:
                apis[env_id] = None if t.failed else t.api
        return targets, apis

    def _credential(self, env: Environment) -> dict[str, Any] | None:
        try:
            doc = yaml.safe_load(self._store.broker_credential(env).kubeconfig)
        except (ApiError, yaml.YAMLError, ValueError):
            log.warning("cleanup: environment %s: broker credential unreadable", env.id)
            return None
        return doc if isinstance(doc, dict) else None

    def _client(self, t: Target) -> client.ApiClient | None:
        for doc in t.credentials[:3]:  # a few of the group's credentials, in order
            try:
                return kube.from_kubeconfig_dict(doc)
            except Exception as e:  # an unusable kubeconfig: try the next one
                log.warning(
                    "cleanup: target %s: a credential unusable (%s)", t.server, _describe(e)
                )
        return None

    def _sweep_targets(
        self, targets: list[Target], pool: Executor, now: datetime, keep: Keep
    ) -> rules.Counts:
        total = rules.Counts()
        with ThreadPoolExecutor(
            max(1, min(TARGETS_AT_ONCE, self._s.parallelism)), "scipian-cleanup-target"
        ) as tpool:
            outcomes = [(t, tpool.submit(self._sweep_one, t, pool, now, keep)) for t in targets]
            for t, job in outcomes:
                total.targets += 1
                counts, ok = job.result()
                total.merge(counts)
                if not ok:
                    t.failed = True
                    total.failed_targets += 1
        return total

    def _sweep_one(
        self, t: Target, pool: Executor, now: datetime, keep: Keep
    ) -> tuple[rules.Counts, bool]:
        if t.failed or t.api is None:
            log.warning("cleanup: target of %s failed (no usable credential)", _envs(t))
            return rules.Counts(), False
        deadline = time.monotonic() + self._s.target_timeout_seconds
        sweep = TargetSweep(
            t.api, self._sessions_ns, self._s, pool, now, keep, deadline, self._timeout
        )
        try:
            counts = sweep.run()
        except OutOfTime:
            log.warning("cleanup: target %s (%s) ran out of time", t.server, _envs(t))
            return sweep.counts, False
        except Exception as e:  # counted and logged; the pass goes on
            log.warning("cleanup: target %s (%s) failed (%s)", t.server, _envs(t), _describe(e))
            return sweep.counts, False
        if sweep.errors:
            log.warning("cleanup: target %s: %d deletes failed", t.server, sweep.errors)
        return counts, not sweep.errors


def _envs(t: Target) -> str:
    more = len(t.environments) - 3
    head = ", ".join(t.environments[:3])
    return f"environments {head}" + (f" and {more} more" if more > 0 else "")


def _sum(jobs: list[Any], what: str) -> int:
    n = 0
    for job in jobs:
        try:
            n += max(0, job.result())
        except Exception as e:  # logged; the pass goes on
            log.warning("cleanup: a %s not deleted (%s)", what, _describe(e))
    return n


def _describe(e: BaseException) -> str:
    status = kube.status_of(e)
    return f"{type(e).__name__} HTTP {status}" if status else type(e).__name__

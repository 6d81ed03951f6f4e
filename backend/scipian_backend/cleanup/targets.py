"""One target's share of a pass, with the broker's credential (manifests/broker-role.yaml:
list/delete ServiceAccounts and Secrets in the sessions namespace, list/delete
(Cluster)RoleBindings; broker-policy.yaml lets it delete only managed bindings).

ServiceAccounts first (idle and not protected: deleted with their resourceVersion as a
precondition, so one that an issuance touched since it was listed stays), then session
Secrets (expired, or of an identity just removed), then bindings (of an identity removed,
or whose ServiceAccount is gone, never a young one). Deletes run on the pass's bounded
pool; lists are paged.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes import client

from scipian_backend.cleanup import rules
from scipian_backend.cleanup.listing import OutOfTime, deleted, meta, pages, remaining
from scipian_backend.cleanup.settings import CleanupSettings
from scipian_backend.identity import names

log = logging.getLogger("scipian.cleanup")


@dataclass(frozen=True)
class Keep:
    """Identities a pass never removes: of Promotions not finished, of open requests."""

    promotions: frozenset[str] = frozenset()
    requests: frozenset[str] = frozenset()


class TargetSweep:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        settings: CleanupSettings,
        pool: Executor,
        now: datetime,
        keep: Keep,
        deadline: float,
        timeout: float = 10.0,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._rbac = client.RbacAuthorizationV1Api(api)
        self._ns = namespace
        self._s = settings
        self._pool = pool
        self._now = now
        self._keep = keep
        self._deadline = deadline
        self._timeout = timeout
        self.errors = 0
        self._failed: set[str] = set()  # deletes that failed (not 404/409)
        self.counts = rules.Counts()  # what was removed, also when the sweep fails half way

    def run(self) -> rules.Counts:
        counts = self.counts
        existing, removed = self._accounts(counts)
        self._sessions(removed, counts)
        self._bindings(existing, removed, counts)
        if removed:
            self._raced(removed)
        return counts

    def _list(self, fn: Any, *args: str) -> Iterator[dict[str, Any]]:
        """The managed objects, a page at a time (only what is decided is kept)."""
        return pages(
            fn,
            *args,
            page_size=self._s.page_size,
            timeout=self._timeout,
            deadline=self._deadline,
            label_selector=rules.MANAGED_SELECTOR,
        )

    def _accounts(self, counts: rules.Counts) -> tuple[set[str], set[str]]:
        existing: set[str] = set()
        idle: dict[str, str] = {}  # name -> resourceVersion
        for sa in self._list(self._core.list_namespaced_service_account, self._ns):
            m = meta(sa)
            name = str(m.get("name") or "")
            existing.add(name)
            notes = m.get("annotations") or {}
            if not rules.identity_idle(
                notes, m.get("creationTimestamp"), self._now, self._s.identity_idle_days
            ):
                continue
            source = str(notes.get(names.SOURCE_ANNOTATION) or "")
            if rules.protected(source, self._keep.promotions, self._keep.requests):
                continue
            idle[name] = str(m.get("resourceVersion") or "")
        jobs = {
            name: self._pool.submit(
                deleted,
                self._core.delete_namespaced_service_account,
                name,
                self._ns,
                body=client.V1DeleteOptions(
                    preconditions=client.V1Preconditions(resource_version=rv)
                ),
                _request_timeout=self._timeout,
            )
            for name, rv in idle.items()
        }
        outcomes = self._wait(jobs)
        # Gone either way (deleted now, or before: its bindings and sessions go too); one
        # whose resourceVersion changed was issued meanwhile and stays.
        removed = {name for name, n in outcomes.items() if n >= 0 and name not in self._failed}
        counts.add("serviceAccounts", sum(n for n in outcomes.values() if n > 0))
        return existing, removed

    def _sessions(self, removed: set[str], counts: rules.Counts) -> None:
        doomed = []
        for secret in self._list(self._core.list_namespaced_secret, self._ns):
            m = meta(secret)
            identity = str((m.get("labels") or {}).get(names.IDENTITY_LABEL) or "")
            if identity in removed or rules.session_expired(m.get("annotations"), self._now):
                doomed.append(str(m.get("name") or ""))
        jobs = {
            name: self._pool.submit(
                deleted,
                self._core.delete_namespaced_secret,
                name,
                self._ns,
                _request_timeout=self._timeout,
            )
            for name in doomed
        }
        counts.add("sessionSecrets", sum(n for n in self._wait(jobs).values() if n > 0))

    def _bindings(self, existing: set[str], removed: set[str], counts: rules.Counts) -> None:
        jobs: dict[str, Future[int]] = {}
        listed = itertools.chain(
            (("", b) for b in self._list(self._rbac.list_cluster_role_binding)),
            (("ns", b) for b in self._list(self._rbac.list_role_binding_for_all_namespaces)),
        )
        for scope, b in listed:
            m = meta(b)
            identity = str((m.get("labels") or {}).get(names.IDENTITY_LABEL) or "")
            if not rules.binding_removable(
                identity,
                m.get("creationTimestamp"),
                removed,
                existing,
                self._now,
                self._s.binding_grace_seconds,
            ):
                continue
            name, ns = str(m.get("name") or ""), str(m.get("namespace") or "")
            if scope:
                jobs[f"{ns}/{name}"] = self._pool.submit(
                    deleted,
                    self._rbac.delete_namespaced_role_binding,
                    name,
                    ns,
                    _request_timeout=self._timeout,
                )
            else:
                jobs[name] = self._pool.submit(
                    deleted,
                    self._rbac.delete_cluster_role_binding,
                    name,
                    _request_timeout=self._timeout,
                )
        counts.add("bindings", sum(n for n in self._wait(jobs).values() if n > 0))

    def _raced(self, removed: set[str]) -> None:
        """An issuance that raced this pass may have made a removed identity again, after
        its bindings were deleted here: its reconciled-generation annotation goes, so that
        the next issuance (past the minter's memo) makes its bindings again."""
        for sa in self._list(self._core.list_namespaced_service_account, self._ns):
            m = meta(sa)
            name = str(m.get("name") or "")
            if name in removed and names.GENERATION_ANNOTATION in (m.get("annotations") or {}):
                patch = {"metadata": {"annotations": {names.GENERATION_ANNOTATION: None}}}
                self._core.patch_namespaced_service_account(
                    name, self._ns, patch, _request_timeout=self._timeout
                )
                log.info("cleanup: identity %s was issued again during the pass", name)

    def _wait(self, jobs: dict[str, Future[int]]) -> dict[str, int]:
        """Each delete's outcome; one that failed counts 0 and marks the target failed."""
        out: dict[str, int] = {}
        for name, job in jobs.items():
            try:
                out[name] = job.result(timeout=remaining(self._deadline))
            except (OutOfTime, TimeoutError):
                for other in jobs.values():
                    other.cancel()
                raise OutOfTime() from None
            except Exception as e:  # counted; the pass goes on
                self.errors += 1
                self._failed.add(name)
                out[name] = 0
                log.debug("cleanup: a delete failed (%s)", type(e).__name__)
        return out

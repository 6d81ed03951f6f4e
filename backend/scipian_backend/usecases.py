"""The backend's use cases, independent of HTTP: list environments, issue a kubeconfig.

Order of checks (docs/api.md): env id syntax → authentication → authorization (RBAC) →
existence → minting. A caller learns whether an environment exists only once RBAC allows
it for them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scipian_backend.audit.events import Auditor
from scipian_backend.audit.records import Record
from scipian_backend.config import Settings, valid_env_id
from scipian_backend.environments.lookups import TtlCache
from scipian_backend.environments.store import Environment, Store
from scipian_backend.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from scipian_backend.identity.authn import Identity, KeySet, Verifier, bearer_token
from scipian_backend.identity.authz import Authorizer
from scipian_backend.metrics import Metrics
from scipian_backend.minting.kubeconfig import format_time, kubeconfig_text
from scipian_backend.minting.minter import Minter
from scipian_backend.ratelimit import RateLimiter
from scipian_backend.releases.reader import ReleaseReader

LOOKUP_WORKERS = 32  # concurrent issuances whose Environment is read during their RBAC check


@dataclass
class Backend:
    settings: Settings
    keys: KeySet
    verifier: Verifier
    authorizer: Authorizer
    store: Store
    minter: Minter
    auditor: Auditor
    metrics: Metrics
    limiter: RateLimiter | None = None  # per-user issuance limit (ratelimit.py)
    # Found (Environment, target client) pairs, reused for settings.lookup_ttl_seconds.
    lookup_cache: TtlCache[tuple[Environment, Any]] | None = None
    # Reads Helm release records on targets (releases/reader.py); None: those routes answer 503.
    release_reader: ReleaseReader | None = None
    _lookups: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(LOOKUP_WORKERS, "scipian-lookup"),
        init=False,
        repr=False,
    )

    def discovery(self) -> dict[str, Any]:
        s = self.settings
        return {
            "apiVersion": "v1",
            "issuer": s.issuer,
            "clientID": s.client_id,
            "scopes": list(s.scopes),
            "usernamePrefix": s.username_prefix,
        }

    def environments(self, authorization: str | None, request_id: str) -> list[dict[str, Any]]:
        who = self._authenticate(authorization, request_id, None)
        envs = self.store.list()
        if not envs:
            return []
        with ThreadPoolExecutor(min(8, len(envs))) as pool:
            allowed = list(pool.map(lambda e: self.authorizer.may_get_kubeconfig(who, e.id), envs))
        return [
            {"id": e.id, "description": e.description, "ttlSeconds": e.ttl_seconds}
            for e, ok in zip(envs, allowed, strict=True)
            if ok
        ]

    def issue(self, env_id: str, authorization: str | None, request_id: str) -> dict[str, Any]:
        if not valid_env_id(env_id):
            raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")
        who = self._authenticate(authorization, request_id, env_id)
        if self.limiter is not None:
            self.limiter.admit(who.username)  # before any cluster call
        # The Environment and its cluster client are read while RBAC decides (they are
        # independent round trips to mgmt); what they say reaches the caller, the audit
        # trail included, only once RBAC has allowed it, in the documented order.
        # A cached pair skips both reads; RBAC is asked afresh either way.
        cached = self.lookup_cache.get(env_id) if self.lookup_cache is not None else None
        lookup = self._lookups.submit(self._lookup, env_id) if cached is None else None
        if not self.authorizer.may_get_kubeconfig(who, env_id):
            self._deny(request_id, env_id, who, "forbidden", "RBAC denied")
            raise Forbidden(f"{who.username} may not use environment {env_id}")
        env, target = lookup.result() if lookup is not None else cached or (None, None)
        if env is None:
            self._deny(request_id, env_id, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        try:
            if isinstance(target, ApiError):
                raise target
            issued = self.minter.issue(env, who.username, target)
        except ApiError as e:
            # Perhaps a rotated broker credential or a re-registered environment: read
            # both again on the next request.
            if self.lookup_cache is not None:
                self.lookup_cache.invalidate(env_id)
            self._deny(request_id, env_id, who, "error", e.message, env.uid)
            raise
        if lookup is not None and self.lookup_cache is not None:
            self.lookup_cache.put(env_id, (env, target))
        expiry = format_time(issued.expiration)
        self.metrics.issuance(env_id)
        self.auditor.record(
            Record(
                event="issuance",
                request_id=request_id,
                outcome="issued",
                environment=env_id,
                user=who.username,
                groups=who.groups,
                expiration_timestamp=expiry,
                service_account=issued.service_account,
            ),
            env.uid,
        )
        return {
            "environment": env_id,
            "user": who.username,
            "expirationTimestamp": expiry,
            "kubeconfig": kubeconfig_text(env_id, issued.endpoint, issued.token),
        }

    def _lookup(self, env_id: str) -> tuple[Environment | None, Any]:
        """(Environment or None, its target client or the ApiError that stood in the way)."""
        env = self.store.get(env_id)
        if env is None:
            return None, None
        try:
            return env, self.minter.target(env)
        except ApiError as e:
            return env, e

    def ready(self) -> bool:
        return self.store.ping() and self.keys.ready()

    def _authenticate(
        self, authorization: str | None, request_id: str, env_id: str | None
    ) -> Identity:
        try:
            return self.verifier.verify(bearer_token(authorization))
        except Unauthorized as e:
            self._deny(request_id, env_id, None, "unauthenticated", e.message)
            raise

    def _deny(
        self,
        request_id: str,
        env_id: str | None,
        who: Identity | None,
        outcome: str,
        reason: str,
        env_uid: str | None = None,
    ) -> None:
        self.metrics.denial(outcome)
        self.auditor.record(
            Record(
                event="denial",
                request_id=request_id,
                outcome=outcome,
                environment=env_id,
                user=who.username if who else None,
                groups=who.groups if who else (),
                reason=reason,
            ),
            env_uid,
        )

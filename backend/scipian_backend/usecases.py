"""The backend's use cases, independent of HTTP: list environments, issue a kubeconfig.

Order of checks (docs/api.md): env id syntax → body → authentication → authorization
(RBAC, else the caller's approved access request; break-glass: its own grant besides
deploy, never a request) → existence → [deploy: the environment's deploy level →
promotion gate unless break-glass or an approved deploy request → step-up] →
[break-glass: audit line, Event and status entry, each written or no credential] →
minting. A caller learns whether an environment exists, and whether their login is fresh
enough, only once RBAC (or a request) allows it for them. Every 403 of issuance carries
`requestable` when RBAC lets the caller ask for access at that level (that question alone).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from scipian_backend.accessrequests.grants import (
    Granted,
    Grants,
    deploy_namespaces,
    token_ttl,
)
from scipian_backend.audit.events import Auditor
from scipian_backend.audit.notify import Notifier
from scipian_backend.audit.records import Record
from scipian_backend.config import MIN_TTL, Settings, valid_env_id
from scipian_backend.environments.cache import EnvironmentCache
from scipian_backend.environments.lookups import TtlCache
from scipian_backend.environments.store import Environment, Store
from scipian_backend.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InsufficientUserAuthentication,
    NotFound,
    PromotionRequired,
    ServiceUnavailable,
    Unauthorized,
)
from scipian_backend.identity.authn import (
    Identity,
    KeySet,
    Verifier,
    bearer_token,
    lifetime_problem,
    step_up_problem,
)
from scipian_backend.identity.authz import Authorizer
from scipian_backend.identity.names import IDENTITY_VERSION, STANDING, request_source
from scipian_backend.identity.rbac_index import CREATE_DEPLOY, GET_KUBECONFIG, RbacIndex
from scipian_backend.metrics import Metrics
from scipian_backend.minting.kubeconfig import format_time, kubeconfig_text
from scipian_backend.minting.minter import Minter
from scipian_backend.ratelimit import ISSUE, READ, WRITE, RateLimiter
from scipian_backend.releases.reader import ReleaseReader
from scipian_backend.worker.room import WorkerRoom

log = logging.getLogger("scipian.backend")

# Who asks: an Authorization header (the API), or an Identity a dashboard session holds.
Caller = str | Identity | None
LOOKUP_WORKERS = 32  # concurrent issuances whose Environment is read during their RBAC check
REVIEW_WORKERS = 16  # the listing's SubjectAccessReviews in flight at once, all callers


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
    # The other authenticated routes' buckets by name, READ and WRITE (ratelimit.py).
    route_limiters: dict[str, RateLimiter] = field(default_factory=dict)
    # Found (Environment, target client) pairs, reused for settings.lookup_ttl_seconds.
    lookup_cache: TtlCache[tuple[Environment, Any]] | None = None
    # Every Environment, watch-fed (environments/cache.py); None: read from mgmt each time.
    env_cache: EnvironmentCache | None = None
    # mgmt's ClusterRoles and bindings naming environments (identity/rbac_index.py); None:
    # the listing asks one review per Environment.
    rbac_index: RbacIndex | None = None
    clock: Callable[[], float] = time.time  # what step-up measures a login's age by
    # Reads Helm release records on targets (releases/reader.py); None: those routes answer 503.
    release_reader: ReleaseReader | None = None
    # Promotion chains (promotions/service.py); None: those routes answer 503.
    promotions: Any = None
    # Break-glass records and acknowledgements (breakglass/service.py); None: refused.
    break_glass: Any = None
    # Step diffs (promotions/diff_routes.py); None: that route answers 503.
    diffs: Any = None
    # The worker room (worker/room.py): claims and runs promotions' turns and periodic
    # tasks; None under `serve --no-worker`. `replica` names this process in Lease holders
    # and executedBy.
    worker: WorkerRoom | None = None
    replica: str = ""
    # The backend's own helm (helmrun.HelmSandbox); None without `serve --helm`.
    helm: Any = None
    # Uploaded chart archives (artifacts/store.py); None without helm: uploads answer 503.
    artifacts: Any = None
    # Approved access requests as grants (accessrequests/grants.py); None: none count.
    grants: Grants | None = None
    # The dashboard's shared state on mgmt (ui/state.py); None without --ui-client-id.
    dashboard: Any = None
    # Access requests (accessrequests/service.py); None: those routes answer 503.
    access_requests: Any = None
    # Deletes an access request's sessions (accessrequests/sessions.py); None: none to delete.
    request_sessions: Any = None
    # Notifications (audit/notify.py, `serve --notify-url`); None: notify() does nothing.
    notifier: Notifier | None = None
    # Set on SIGTERM (http/shutdown.py): /readyz fails, so balancers stop sending here
    # before the replica stops listening.
    draining: threading.Event = field(default_factory=threading.Event, repr=False)
    _lookups: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(LOOKUP_WORKERS, "scipian-lookup"),
        init=False,
        repr=False,
    )
    _reviews: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(REVIEW_WORKERS, "scipian-review"),
        init=False,
        repr=False,
    )

    def notify(self, type: str, **fields: Any) -> None:
        """One notification event (audit/notify.py: its types and allowed fields), queued
        and posted in the background: never blocks, never raises; without `serve
        --notify-url` it does nothing."""
        if self.notifier is not None:
            self.notifier.notify(type, **fields)

    def discovery(self) -> dict[str, Any]:
        s = self.settings
        return {
            "apiVersion": "v1",
            "issuer": s.issuer,
            "clientID": s.client_id,
            "scopes": list(s.scopes),
            "usernamePrefix": s.username_prefix,
            # Identities per (environment, level, user, source) since 2: a kubeconfig
            # fetched under an older version may be refused once (kubectl_scipian reads it).
            "identityVersion": IDENTITY_VERSION,
        }

    def environments(
        self, authorization: Caller, request_id: str, gates: bool = False
    ) -> list[dict[str, Any]]:
        """The environments the caller may read; with `gates`, each one the caller may also
        deploy to carries `gated` (change.md §2). With the RBAC index (docs/backend.md
        "Listing environments"): a review without a name, else one per candidate the
        caller's bindings name; without it, one per Environment."""
        who = self._authenticate(authorization, request_id, READ)
        index = self.rbac_index
        if index is None or not index.ready():
            return self._environments_each(who, gates)
        # Round one, together: every environment readable (deployable)? one review without
        # a name each; and the environments of the caller's open read requests.
        read_all = self._reviews.submit(self.authorizer.allowed, who, "", *GET_KUBECONFIG)
        deploy_all = (
            self._reviews.submit(self.authorizer.allowed, who, "", *CREATE_DEPLOY)
            if gates
            else None
        )
        requests = self._reviews.submit(self._readable_by_request, who)
        every, requested = read_all.result(), requests.result()
        may_deploy_all = deploy_all is not None and deploy_all.result()
        # Round two: each candidate confirmed by its own review (and one for deploy where
        # the caller's bindings name it). The index bounds the questions, never answers.
        deploy_names = (
            index.reach(who, CREATE_DEPLOY).names if gates and not may_deploy_all else set()
        )
        if every:
            envs = list(self.all_environments())
            checks = [(e.id, False, e.id in deploy_names) for e in envs]
        else:
            envs = []
            names = (n for n in index.reach(who, GET_KUBECONFIG).names if valid_env_id(n))
            checks = [(n, True, n in deploy_names) for n in sorted(names)]

        def confirm(check: tuple[str, bool, bool]) -> tuple[Environment | None, bool, bool]:
            name, ask_read, ask_deploy = check
            if ask_read and not self.authorizer.may_get_kubeconfig(who, name):
                return None, False, False
            env = self.environment(name)
            if env is None:
                return None, False, False
            if may_deploy_all:
                return env, True, env.deploy is not None
            deploy = ask_deploy and env.deploy is not None and self.authorizer.may_deploy(who, name)
            return env, True, deploy

        asked = [c for c in checks if c[1] or c[2]]
        answers = dict(zip((c[0] for c in asked), self._reviews.map(confirm, asked), strict=True))
        items: dict[str, dict[str, Any]] = {}
        for e in envs:  # every: all readable; gated where deploy is allowed
            _, _, deploy = answers.get(e.id, (e, True, may_deploy_all and e.deploy is not None))
            items[e.id] = _listed(e, deploy)
        for env, ok, deploy in answers.values():
            if env is not None and ok and env.id not in items:
                items[env.id] = _listed(env, deploy)
        for name in requested - items.keys():
            env = self.environment(name)
            if env is not None:
                items[name] = _listed(env, False)
        return [items[k] for k in sorted(items)]

    def _environments_each(self, who: Identity, gates: bool) -> list[dict[str, Any]]:
        """The listing without the RBAC index: one review per Environment (`serve
        --no-rbac-index`, or before the index is ready)."""
        envs = self.all_environments()
        if not envs:
            return []
        requested = self._readable_by_request(who)

        def may(env: Environment) -> tuple[bool, bool]:
            if not self.authorizer.may_get_kubeconfig(who, env.id):
                return env.id in requested, False
            deploy = gates and env.deploy is not None and self.authorizer.may_deploy(who, env.id)
            return True, deploy

        allowed = list(self._reviews.map(may, envs))
        return [_listed(e, deploy) for e, (ok, deploy) in zip(envs, allowed, strict=True) if ok]

    def _readable_by_request(self, who: Identity) -> set[str]:
        """The environments of the caller's open read requests: one list on mgmt for all."""
        return self.grants.readable(who) if self.grants is not None else set()

    def all_environments(self) -> Sequence[Environment]:
        if self.env_cache is not None:
            return self.env_cache.every()
        return self.store.list()

    def environment(self, env_id: str) -> Environment | None:
        """From the watch-fed cache (a miss reads mgmt); never for deploy-level or gate
        decisions, which read the Environment fresh (store.get)."""
        if self.env_cache is not None:
            return self.env_cache.get(env_id)
        return self.store.get(env_id)

    def issue(
        self,
        env_id: str,
        authorization: Caller,
        request_id: str,
        level: str = "read",
        justification: str = "",
        break_glass: bool = False,
    ) -> dict[str, Any]:
        if not valid_env_id(env_id):
            raise BadRequest("environment id must be a Kubernetes object name (DNS-1123 label)")
        audit = Audit(request_id, env_id, level, justification)
        who = self._authenticate(authorization, audit, ISSUE)  # throttled before any cluster call
        audit = audit._replace(auth_time=who.auth_time)
        try:
            return self._issue(env_id, who, audit, break_glass)
        except Forbidden as refused:
            # Decided by RBAC alone, whatever refused the credential and whether the
            # environment exists: the hint reveals nothing else (change.md §9).
            if self._requestable(who, env_id, level):
                refused.fields = {**(refused.fields or {}), "requestable": level}
            raise

    def _issue(self, env_id: str, who: Identity, audit: Audit, break_glass: bool) -> dict[str, Any]:
        level = audit.level
        deploy = level == "deploy"
        # The Environment and its cluster client are read while RBAC decides (they are
        # independent round trips to mgmt); what they say reaches the caller, the audit
        # trail included, only once RBAC has allowed it, in the documented order.
        # A cached pair skips both reads; RBAC is asked afresh either way. Deploy level
        # reads the Environment fresh from mgmt (its gate and namespaces decide), reusing
        # only a cached client of the same broker Secret.
        cached = self.lookup_cache.get(env_id) if self.lookup_cache is not None else None
        lookup = (
            self._lookups.submit(self._lookup, env_id, deploy, cached)
            if cached is None or deploy
            else None
        )
        allowed = (
            self.authorizer.may_deploy(who, env_id)
            if deploy
            else self.authorizer.may_get_kubeconfig(who, env_id)
        )
        # Refused by standing RBAC: an approved access request may grant it (never for
        # break-glass, which keeps asking RBAC alone).
        granted = None if allowed or break_glass else self.request_grant(who, env_id, level)
        if not allowed and granted is None:
            self._deny(audit, who, "forbidden", "RBAC denied")
            raise Forbidden(f"{who.username} may not {_verb(level)} environment {env_id}")
        if break_glass:
            self.check_break_glass_grant(who, audit)
        env, target = lookup.result() if lookup is not None else cached or (None, None)
        if env is None:
            self._deny(audit, who, "not_found", "no such Environment")
            raise NotFound(f"no environment {env_id}")
        if deploy:
            if granted is None and not break_glass and env.deploy and env.deploy.gated:
                # A gated environment issues no plain deploy credential; an approved
                # deploy request is one of the two ways around the gate (change.md §2).
                granted = self.request_grant(who, env_id, level)
            self._check_deploy(env, who, audit, break_glass or granted is not None)
        glass_id = self._record_break_glass(env, who, audit) if break_glass else ""
        answer = self.mint(
            env,
            target,
            who,
            audit,
            break_glass=break_glass,
            break_glass_id=glass_id,
            granted=granted,
        )
        if lookup is not None and self.lookup_cache is not None:
            self.lookup_cache.put(env_id, (env, target))
        return answer

    def mint(
        self,
        env: Environment,
        target: Any,
        who: Identity,
        audit: Audit,
        *,
        break_glass: bool = False,
        promotion: str | None = None,
        break_glass_id: str = "",
        granted: Granted | None = None,
    ) -> dict[str, Any]:
        """Mints the credential that every check before allowed, audits it, and returns
        the kubeconfig answer (a promotion's step adds `promotion`). Under an access
        request (`granted`): from the request's own identity, bound in its namespaces
        that the Environment deploys to, its token no longer than the window (floored)."""
        env_id, level, justification = env.id, audit.level, audit.justification
        request_id = audit.request_id
        try:
            if isinstance(target, ApiError):
                raise target
            # Break-glass is hands-on and audited: its credential lives the minimum (§8).
            ttl = MIN_TTL if break_glass else None
            source, namespaces = STANDING, None
            if granted is not None:
                source = request_source(granted.name)
                ttl, namespaces = self._request_bounds(env, who, audit, granted)
            issued = self.minter.issue(
                env,
                who.username,
                target,
                level=level,
                ttl=ttl,
                source=source,
                namespaces=namespaces,
            )
        except ApiError as e:
            # Perhaps a rotated broker credential or a re-registered environment: read
            # both again on the next request.
            if self.lookup_cache is not None:
                self.lookup_cache.invalidate(env_id)
            self._deny(audit, who, "error", e.message, env.uid)
            raise
        expires = issued.expiration
        if granted is not None:
            # The TTL was the window's rest when asked; the apiserver counts from the mint,
            # a moment (first issuances: a dozen calls) later. The worker deletes the
            # request's sessions, and their tokens with them, at the window's end.
            expires = min(expires, granted.window_end)
        expiry = format_time(expires)
        self.metrics.issuance(env_id, level, bool(env.deploy and env.deploy.gated))
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
                level=level,
                justification=justification,
                auth_time=who.auth_time,
                break_glass=break_glass,
                break_glass_id=break_glass_id,
                promotion={"name": promotion} if promotion else None,
                access_request={"name": granted.name} if granted is not None else None,
            ),
            env.uid,
        )
        answer = {
            "environment": env_id,
            "user": who.username,
            "expirationTimestamp": expiry,
            "kubeconfig": kubeconfig_text(env_id, issued.endpoint, issued.token),
            "level": level,
        }
        if promotion:
            answer["promotion"] = promotion
        return answer

    def _check_deploy(
        self, env: Environment, who: Identity, audit: Audit, past_gate: bool = False
    ) -> None:
        """What RBAC allowed, the environment must offer (outside a promotion: no
        promotion gate, unless broken with break-glass or under an approved access
        request), and the login must be fresh."""
        spec = env.deploy
        if spec is None:
            # Not allowed, in the caller's words; the audit line says why.
            self._deny(audit, who, "forbidden", "no deploy level", env.uid)
            raise Forbidden(f"{who.username} may not deploy to environment {env.id}")
        if spec.gated and not past_gate:
            message = gate_message(env)
            self._deny(audit, who, "forbidden", message, env.uid)
            raise PromotionRequired(message)
        self.check_step_up(env, who, audit)

    # --- access requests (accessrequests/: grants, sessions, worker) -----------------------

    def request_grant(self, who: Identity, env_id: str, level: str) -> Granted | None:
        """The caller's approved, open access request for (env, level), RBAC still letting
        them ask for it; None without one (or without access requests configured)."""
        if self.grants is None:
            return None
        return self.grants.grant_for(who, env_id, level, datetime.now(timezone.utc))

    def _request_bounds(
        self, env: Environment, who: Identity, audit: Audit, granted: Granted
    ) -> tuple[int, tuple[str, ...] | None]:
        """(token TTL, deploy namespaces) of a credential under `granted`."""
        now = datetime.now(timezone.utc)
        floor = self.settings.request_token_floor_seconds
        if audit.level != "deploy" or env.deploy is None:
            return token_ttl(env.ttl_seconds, granted.window_end, now, floor), None
        namespaces = deploy_namespaces(granted.namespaces, env.deploy.namespaces)
        if not namespaces:  # the Environment no longer deploys where the request asked
            self._deny(audit, who, "forbidden", f"access request {granted.name}: no namespace")
            raise Forbidden(f"{who.username} may not deploy to environment {env.id}")
        ttl = token_ttl(env.deploy.ttl_seconds, granted.window_end, now, floor)
        return ttl, namespaces

    def _requestable(self, who: Identity, env_id: str, level: str) -> bool:
        """Whether RBAC lets `who` ask for access at `level` on env_id (the 403's hint);
        False when mgmt cannot answer (the refusal stands without a hint)."""
        try:
            return self.authorizer.allowed(who, env_id, "create", f"request-{level}")
        except ApiError:
            log.info("the refusal's request hint was not decided (mgmt unavailable)")
            return False

    # --- break-glass (breakglass/service.py keeps the records) --------------------------

    def check_break_glass_grant(self, who: Identity, audit: Audit) -> None:
        """Break-glass needs `create environments/breakglass` besides deploy (asked after
        deploy RBAC, before anything says whether the environment exists)."""
        env_id = str(audit.environment)
        if not self.authorizer.may_break_glass(who, env_id):
            self._deny(audit, who, "forbidden", "RBAC denied (break-glass)")
            raise Forbidden(f"{who.username} may not break the glass on environment {env_id}")

    def require_approve(
        self, authorization: Caller, audit: Audit, what: str
    ) -> tuple[Identity, Audit]:
        """Who asks, allowed `create environments/approve` on the audit's environment (an
        approval, a break-glass acknowledgement): (who, the audit with their auth_time)."""
        who = self._authenticate(authorization, audit)
        audit = audit._replace(auth_time=who.auth_time)
        env_id = str(audit.environment)
        if not self.authorizer.may_approve(who, env_id):
            self._deny(audit, who, "forbidden", f"RBAC denied ({what})")
            raise Forbidden(f"{who.username} may not approve on environment {env_id}")
        return who, audit

    def _record_break_glass(self, env: Environment, who: Identity, audit: Audit) -> str:
        """The break-glass's audit line, Warning Event and status entry, before any
        credential exists; an error here refuses the credential."""
        if self.break_glass is None:
            raise ServiceUnavailable("break-glass is not configured")
        entry_id: str = self.break_glass.record(env, who, audit)
        return entry_id

    def check_step_up(self, env: Environment, who: Identity, audit: Audit) -> None:
        """The login behind the id_token is no older than the environment allows."""
        spec = env.deploy
        if spec is None:
            raise Forbidden(f"{who.username} may not deploy to environment {env.id}")
        problem = step_up_problem(
            who.auth_time, spec.max_auth_age_seconds, self.clock(), self.settings.leeway_seconds
        )
        if problem is not None:
            self._deny(audit, who, "step_up_required", problem, env.uid)
            raise InsufficientUserAuthentication(problem, spec.max_auth_age_seconds)

    def _lookup(
        self, env_id: str, fresh: bool = False, cached: tuple[Environment, Any] | None = None
    ) -> tuple[Environment | None, Any]:
        """(Environment or None, its target client or the ApiError that stood in the way);
        `fresh`: the Environment read from mgmt, `cached`'s client reused when the
        Environment still names the same broker Secret."""
        env = self.store.get(env_id) if fresh else self.environment(env_id)
        if env is None:
            return None, None
        if cached is not None and (cached[0].uid, cached[0].secret) == (env.uid, env.secret):
            return env, cached[1]
        try:
            return env, self.minter.target(env)
        except ApiError as e:
            return env, e

    def ready(self) -> bool:
        if self.draining.is_set():
            return False
        for cache in (self.env_cache, self.rbac_index):
            if cache is not None and not cache.ready():
                return False
        return self.store.ping() and self.keys.ready()

    def start_caches(self, wait: float) -> None:
        """Starts the Environment cache and the RBAC index (the app's lifespan) and waits
        at most `wait` seconds for their first lists; /readyz fails until they are read."""
        for cache in (self.env_cache, self.rbac_index):
            if cache is not None:
                cache.start()
        for cache in (self.env_cache, self.rbac_index):
            if cache is not None and not cache.wait_ready(wait):
                log.warning("caches not listed within %gs: not ready until they are", wait)
                return

    def stop_caches(self) -> None:
        for cache in (self.env_cache, self.rbac_index):
            if cache is not None:
                cache.stop()

    def _authenticate(
        self, authorization: Caller, audit: Audit | str, bucket: str = WRITE
    ) -> Identity:
        """Who asks, then one token of their `bucket` (ISSUE, READ, WRITE: ratelimit.py),
        before any cluster call; TooManyRequests (429) when it is empty."""
        # The dashboard's session holds an Identity its login verified (ui/session.py);
        # every other caller brings an Authorization header.
        if isinstance(authorization, Identity):
            who = authorization
        else:
            try:
                who, claims = self.verifier.verify_claims(bearer_token(authorization))
                if isinstance(audit, Audit) and audit.level == "deploy":
                    # Operations audited at deploy level (deploy credentials, promotions,
                    # rollback records) take no long-lived id_token: one stolen is good
                    # until its exp whatever logout did (identity/authn.py lifetime_problem).
                    problem = lifetime_problem(claims, self.settings.max_token_lifetime_seconds)
                    if problem is not None:
                        raise Unauthorized(problem)
            except Unauthorized as e:
                if isinstance(audit, str):
                    audit = Audit(audit, None)
                self._deny(audit, None, "unauthenticated", e.message)
                raise
        limiter = self.limiter if bucket == ISSUE else self.route_limiters.get(bucket)
        if limiter is not None:
            limiter.admit(who.username)
        return who

    def _deny(
        self,
        audit: Audit,
        who: Identity | None,
        outcome: str,
        reason: str,
        env_uid: str | None = None,
    ) -> None:
        self.metrics.denial(outcome, audit.level)
        self.auditor.record(
            Record(
                event="denial",
                request_id=audit.request_id,
                outcome=outcome,
                environment=audit.environment,
                user=who.username if who else None,
                groups=who.groups if who else (),
                reason=reason,
                level=audit.level,
                justification=audit.justification,
                auth_time=audit.auth_time,
            ),
            env_uid,
        )


class Audit(NamedTuple):
    """What every audit record of one request carries."""

    request_id: str
    environment: str | None
    level: str = "read"
    justification: str = ""
    auth_time: int | None = None


def _listed(env: Environment, deploy: bool) -> dict[str, Any]:
    """One environment as the listing shows it; `gated` where the caller may deploy."""
    item: dict[str, Any] = {
        "id": env.id,
        "description": env.description,
        "ttlSeconds": env.ttl_seconds,
    }
    if deploy and env.deploy is not None:
        item["gated"] = env.deploy.gated
    return item


def gate_message(env: Environment) -> str:
    """Why a gated environment issues no plain deploy credential."""
    spec = env.deploy
    gates = []
    if spec is not None and spec.require_promotion_from:
        gates.append(f"requirePromotionFrom: {spec.require_promotion_from}")
    if spec is not None and spec.approvals_required:
        gates.append(f"approvals: {spec.approvals_required}")
    return (
        f"{env.id} issues deploy credentials only inside a promotion ({', '.join(gates)}); "
        "use promote, or --break-glass"
    )


def _verb(level: str) -> str:
    return "deploy to" if level == "deploy" else "use"

"""Backend settings: one frozen value built from flags and SCIPIAN_* environment variables."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scipian_backend.cleanup.settings import CleanupSettings
from scipian_backend.errors import ConfigError
from scipian_backend.releases import records
from scipian_backend.worker.settings import WorkerSettings

GROUP = "scipian.io"
VERSION = "v1alpha1"
PLURAL = "environments"
KIND = "Environment"
DEFAULT_NAMESPACE = "scipian-system"
SESSIONS_NAMESPACE = "scipian-sessions"
# Uploaded chart archives and promotions' values (change.md §5), as Secrets on mgmt.
ARTIFACTS_NAMESPACE = "scipian-artifacts"
BROKER_NAME = "scipian-broker"
DEFAULT_DEPLOY_ROLE = "scipian-deployer"  # manifests/deployer-role.yaml (change.md §3)
ENVIRONMENT_LABEL = "scipian.io/environment"  # on a broker Secret: the one env id it serves
ENV_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MIN_TTL = 600  # the TokenRequest API's minimum expirationSeconds
# Step-up (spec.deploy.maxAuthAgeSeconds): how old the login behind a deploy request may be.
DEFAULT_MAX_AUTH_AGE = 300
MIN_AUTH_AGE = 5  # seconds: small enough for tests, still a real login
MAX_AUTH_AGE = 3600
MAX_JUSTIFICATION = 512  # characters of a deploy request's justification
# What a justification may not contain: control characters (C0, DEL, C1), zero-width and
# bidirectional formatting, line and paragraph separators, lone surrogates. It goes into
# audit lines and Events as one line that reads as it was typed. Written in both Python's
# and ECMA-262's regex syntax: /openapi.json publishes it as the schema's pattern.
JUSTIFICATION_FORBIDDEN = r"\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
# At least one visible character, none forbidden. (Lone surrogates, which JSON can carry
# as escapes, are refused too (http/bodies.py), but regex engines outside Python cannot
# name them, so the published pattern leaves them out.)
JUSTIFICATION_PATTERN = (
    f"^[^{JUSTIFICATION_FORBIDDEN}]*[^{JUSTIFICATION_FORBIDDEN}\\s][^{JUSTIFICATION_FORBIDDEN}]*$"
)
LEVELS = ("read", "deploy")
MAX_BREAK_GLASS_HISTORY = 200  # the Environment CRD's maxItems of status.breakGlass
# spec.maxAccessSeconds: an access request's longest window (change.md §9), and its bounds.
DEFAULT_MAX_ACCESS = 4 * 3600
MIN_ACCESS = 60
MAX_ACCESS = 7 * 86400


def valid_env_id(env_id: str) -> bool:
    # fullmatch: `$` alone would also accept a trailing newline ("dev\n").
    return len(env_id) <= 63 and ENV_ID.fullmatch(env_id) is not None


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    mgmt_kubeconfig: str | None = None  # None: in-cluster config
    namespace: str = DEFAULT_NAMESPACE  # where broker Secrets live (informational)
    event_namespace: str = "default"  # Events about cluster-scoped Environments
    username_claim: str = "email"
    groups_claim: str = "groups"
    username_prefix: str = "oidc:"
    groups_prefix: str = "oidc:"
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")
    leeway_seconds: int = 30
    max_token_age_seconds: int = 24 * 3600
    jwks_lifespan_seconds: float = 300.0  # periodic refresh drops retired keys
    # After a JWKS fetch an unknown kid caused, other unknown kids are refused at once for
    # this long (identity/authn.py): forged kids cost neither the IdP nor a worker thread.
    jwks_min_refetch_seconds: float = 30.0
    # Deploy-level and promotion operations refuse id_tokens living longer (exp - iat).
    max_token_lifetime_seconds: int = 3600
    scopes: tuple[str, ...] = ("openid", "email", "groups", "offline_access")
    sessions_namespace: str = SESSIONS_NAMESPACE
    http_timeout_seconds: float = 10.0
    ensured_ttl_seconds: float = 60.0  # how long a verified SA + binding is trusted
    # How long a found Environment + broker client is reused (lookups.py); 0: every time.
    lookup_ttl_seconds: float = 5.0
    # The listing's caches (docs/backend.md "Listing environments"): every Environment and
    # mgmt's RBAC naming environments, watch-fed; off: read mgmt (one review per
    # Environment) on every listing. /readyz waits for both, the lifespan at most this long.
    environment_cache: bool = True
    rbac_index: bool = True
    cache_ready_seconds: float = 30.0
    rate_limit: str = "600/60s"  # per user and replica, on issuance (ratelimit.py); "0": off
    rate_limit_burst: int | None = None  # default: 100, at most the rate's token count
    # The other authenticated routes' buckets (ratelimit.py, change.md §11); "0": off.
    read_rate_limit: str = "1200/60s"  # environments, release reads, promotion reads
    read_rate_limit_burst: int | None = None  # default: 200, at most the token count
    write_rate_limit: str = "120/60s"  # rollback records, the promotion routes
    write_rate_limit_burst: int | None = None  # default: 30, at most the token count
    event_flush_seconds: float = 1.0  # how long aggregated Events collect (audit/events.py)
    # The dashboard (/ui/, docs/ui.md): an OIDC client of its own at the provider. Without a
    # client id the dashboard is off (its routes answer 404).
    ui_client_id: str | None = None
    ui_client_secret: str = field(default="", repr=False)  # never in a repr or a log
    public_url: str | None = None  # the backend's own URL; the redirect URI is under it
    ui_session_max_seconds: int = 8 * 3600  # and never past the id_token's exp
    # Log follows (ui/follows.py, ui/logs.py): open at once per user and per replica, and
    # the longest line passed on (the rest of a longer one is dropped).
    ui_follows_per_user: int = 10
    ui_follows_per_replica: int = 200
    ui_log_line_bytes: int = 16384
    # Any replica serves any dashboard request (docs/decisions/dashboard-state.md):
    # pending logins in a sealed cookie, sessions as Secrets on mgmt, keys in one Secret.
    ui_login_seconds: int = 600  # a sign-in must come back from the provider within this
    ui_sessions_per_user: int = 20  # a new sign-in beyond this ends the user's oldest
    ui_session_sweep_seconds: float = 300.0  # how often expired sessions are deleted
    ui_keys_secret: str = "scipian-dashboard-keys"  # noqa: S105 - a Secret name, in scipian-dashboard
    ui_key_rotation_seconds: int = 7 * 86400  # 0: never (the Secret is rotated elsewhere)
    ui_key_cache_seconds: float = 30.0  # how long a replica trusts the keys it read
    # A log follow here ends within this of its session's logout on another replica.
    ui_follow_check_seconds: float = 5.0
    # Sign-ins started and finished per client address (the forwarded one behind a trusted
    # proxy, --forwarded-allow-ips); "0": off.
    ui_login_rate_limit: str = "120/60s"
    ui_login_rate_limit_burst: int | None = None  # default: 60, at most the token count
    # Release records (releases/records.py): decoding bounds, `serve --release-record-*`.
    release_record_max_bytes: int = records.MAX_PAYLOAD
    release_record_max_decompressed: int = records.MAX_DECOMPRESSED
    release_record_max_depth: int = records.MAX_DEPTH
    release_record_decode_concurrency: int = records.DECODE_CONCURRENCY
    # Break-glass and metrics (docs/api.md "Break-glass"; metrics.py).
    metrics_detail: bool = False  # environment ids in /metrics labels, else gated/ungated
    break_glass_history: int = 50  # break-glass entries kept in an Environment's status
    # Promotions (docs/api.md "Promotions", change.md §5): the create body, the creation
    # renders, the per-user caps and the long-poll watch.
    promotion_body_max_bytes: int = 160 * 1024
    promotion_values_max_bytes: int = 96 * 1024  # values' base64 and sets, in all
    promotion_render_timeout_seconds: float = 20.0  # each `helm template` at creation
    promotion_active_per_user: int = 5  # unfinished promotions a user may have started
    promotion_creations_per_hour: int = 10  # per user, counted on mgmt (every replica)
    promotion_watch_seconds: float = 60.0  # the longest a long poll waits for a change
    promotion_watches_per_replica: int = 64  # long polls waiting at once; beyond: answered now
    promotion_diff_cache: int = 256  # step diffs kept per replica (promotions/diff_routes.py)
    # Access requests (docs/api.md "Access requests", change.md §9, §11): how long one waits
    # for a decision, and the per-user caps, counted on mgmt (every replica).
    request_pending_seconds: int = 86400
    request_max_pending_per_env: int = 3
    request_max_pending_per_user: int = 10
    request_creations_per_hour: int = 20
    # The worker room (worker/settings.py): replica id, Lease timings, turn threads.
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    cleanup: CleanupSettings = field(default_factory=CleanupSettings)  # cleanup/settings.py
    # The backend's own helm (helmrun/sandbox.py, change.md §5); None: no helm, so no chart
    # uploads, creation renders or execution (those answer 503).
    helm: str | None = None
    helm_scratch_dir: str | None = None  # None: a private temporary dir
    helm_max_runs: int = 2  # helm processes at once per replica, every kind of run
    helm_memory_bytes: int = 512 * 1024 * 1024
    helm_cpu_seconds: int = 120
    helm_term_grace_seconds: float = 30.0
    helm_wait_slot_seconds: float = 20.0  # a run waits this long for a slot, then HelmBusy
    helm_output_bytes: int = 32 * 1024 * 1024  # each of stdout and stderr
    helm_scratch_bytes: int = 64 * 1024 * 1024  # what workspaces hold at once
    # Chart uploads (artifacts/, change.md §5 "Upload").
    chart_max_bytes: int = 1_000_000
    chart_max_decompressed: int = 10 * 1024 * 1024
    chart_max_through: int = 10
    chart_uploads_per_hour: int = 50
    chart_unreferenced_per_user: int = 20
    chart_store_bytes: int = 200 * 1024 * 1024
    chart_unreferenced_seconds: int = 3600  # an archive no promotion names is deleted then
    chart_after_use_seconds: int = 24 * 3600  # after the last promotion using it finished
    chart_collect_seconds: float = 300.0  # how often the collector runs (worker periodic)
    # Promotion execution (promotions/executor.py, deadlines.py, change.md §5): how long a
    # step waits for approvals, and a Pending promotion's idle limit in step timeouts.
    promotion_approval_seconds: int = 259_200
    promotion_idle_factor: float = 2.0
    promotion_soak_check_seconds: float = 2.0
    # Credentials under an access request (accessrequests/grants.py, change.md §9): tokens
    # for min(ttl, window end - now), never shorter than this (TokenRequest's minimum).
    request_token_floor_seconds: int = MIN_TTL
    # Notifications (audit/notify.py, change.md §11): where events are POSTed (None: none;
    # the URL may hold a secret, so never in a repr), the queue, each post's timeout, retries.
    notify_url: str | None = field(default=None, repr=False)
    notify_queue: int = 1000
    notify_timeout_seconds: float = 5.0
    notify_retries: int = 3
    # scipian_pending_approvals (audit/pending.py): how long one count of mgmt's lists serves.
    pending_approvals_cache_seconds: float = 15.0

    def __post_init__(self) -> None:
        if not MIN_TTL <= self.request_token_floor_seconds <= 86400:
            raise ConfigError(f"--request-token-floor-seconds must be {MIN_TTL} to 86400")
        if self.promotion_approval_seconds < 1 or self.promotion_idle_factor <= 0:
            raise ConfigError(
                "--promotion-approval-seconds and --promotion-idle-factor must be positive"
            )
        if self.promotion_soak_check_seconds <= 0:
            raise ConfigError("--promotion-soak-check-seconds must be positive")
        if not self.issuer.startswith(("https://", "http://")):
            raise ConfigError(f"issuer must be an http(s) URL, got {self.issuer!r}")
        if not self.client_id:
            raise ConfigError("client id must not be empty")
        bad = [a for a in self.algorithms if a.upper() == "NONE" or a.startswith("HS")]
        if bad:
            raise ConfigError(f"algorithms not allowed for id_tokens: {', '.join(bad)}")
        if self.ui_client_id and not (self.public_url or "").startswith(("https://", "http://")):
            raise ConfigError("the dashboard needs --public-url, the backend's own http(s) URL")
        if self.ui_session_max_seconds < 1:
            raise ConfigError("--ui-session-max-seconds must be positive")
        if min(self.ui_login_seconds, self.ui_sessions_per_user) < 1:
            raise ConfigError("--ui-login-seconds and --ui-sessions-per-user must be positive")
        if (
            min(
                self.ui_session_sweep_seconds,
                self.ui_key_cache_seconds,
                self.ui_follow_check_seconds,
            )
            <= 0
        ):
            raise ConfigError(
                "--ui-session-sweep-seconds, --ui-key-cache-seconds and "
                "--ui-follow-check-seconds must be positive"
            )
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", self.ui_keys_secret):
            raise ConfigError("--ui-keys-secret must be a Secret's name (a DNS label)")
        # A rotation drops the key before the previous one: every pending login sealed
        # with it must have come back by then, on every replica's cached keys too.
        slack = self.ui_login_seconds + self.ui_key_cache_seconds
        if self.ui_key_rotation_seconds and self.ui_key_rotation_seconds < slack:
            raise ConfigError(
                "--ui-key-rotation-seconds must be 0 (never) or at least --ui-login-seconds "
                "plus --ui-key-cache-seconds"
            )
        if min(self.ui_follows_per_user, self.ui_follows_per_replica, self.ui_log_line_bytes) < 1:
            raise ConfigError(
                "--ui-follows-per-user, --ui-follows-per-replica and --ui-log-line-bytes "
                "must be positive"
            )
        for flag, value in (
            ("--release-record-max-bytes", self.release_record_max_bytes),
            ("--release-record-max-decompressed", self.release_record_max_decompressed),
            ("--release-record-max-depth", self.release_record_max_depth),
            ("--release-record-decode-concurrency", self.release_record_decode_concurrency),
        ):
            if value < 1:
                raise ConfigError(f"{flag} must be positive")
        for flag, number in (
            ("--helm-max-runs", self.helm_max_runs),
            ("--helm-memory-bytes", self.helm_memory_bytes),
            ("--helm-cpu-seconds", self.helm_cpu_seconds),
            ("--helm-output-bytes", self.helm_output_bytes),
            ("--helm-scratch-bytes", self.helm_scratch_bytes),
            ("--chart-max-bytes", self.chart_max_bytes),
            ("--chart-max-decompressed", self.chart_max_decompressed),
            ("--chart-max-through", self.chart_max_through),
            ("--chart-uploads-per-hour", self.chart_uploads_per_hour),
            ("--chart-unreferenced-per-user", self.chart_unreferenced_per_user),
            ("--chart-store-bytes", self.chart_store_bytes),
            ("--chart-unreferenced-seconds", self.chart_unreferenced_seconds),
            ("--chart-after-use-seconds", self.chart_after_use_seconds),
            ("--chart-collect-seconds", self.chart_collect_seconds),
        ):
            if number < 1:
                raise ConfigError(f"{flag} must be positive")
        if self.helm_term_grace_seconds < 0 or self.helm_wait_slot_seconds < 0:
            raise ConfigError(
                "--helm-term-grace-seconds and --helm-wait-slot-seconds must not be negative"
            )
        for flag, count in (
            ("--request-pending-seconds", self.request_pending_seconds),
            ("--request-max-pending-per-env", self.request_max_pending_per_env),
            ("--request-max-pending-per-user", self.request_max_pending_per_user),
            ("--request-creations-per-hour", self.request_creations_per_hour),
        ):
            if count < 1:
                raise ConfigError(f"{flag} must be positive")
        if self.notify_url is not None:
            from scipian_backend.audit.notify import check_notify_url

            check_notify_url(self.notify_url)
        if self.notify_queue < 1 or not 0 < self.notify_timeout_seconds <= 60:
            raise ConfigError(
                "--notify-queue must be positive and --notify-timeout-seconds in (0, 60]"
            )
        if not 0 < self.pending_approvals_cache_seconds <= 3600:
            raise ConfigError("--pending-approvals-cache-seconds must be in (0, 3600]")
        if not 0 <= self.notify_retries <= 10:
            raise ConfigError("--notify-retries must be between 0 and 10")
        if not 1 <= self.break_glass_history <= MAX_BREAK_GLASS_HISTORY:
            raise ConfigError(
                f"--break-glass-history must be between 1 and {MAX_BREAK_GLASS_HISTORY}"
            )


def check_serve_identity(issuer: str, username_prefix: str, groups_prefix: str) -> None:
    """`serve` refuses identity settings that hand out cluster identities (ConfigError).

    An empty prefix lets a provider's claim name a Kubernetes identity itself: a groups
    claim `system:masters` would pass every SubjectAccessReview. A `system:` prefix does
    the same by construction. An http:// issuer off this machine sends the JWKS in clear,
    so anyone on the path can swap in keys and forge every login.
    """
    for flag, prefix in (
        ("--username-prefix", username_prefix),
        ("--groups-prefix", groups_prefix),
    ):
        if not prefix:
            raise ConfigError(
                f"{flag} must not be empty: claims would name Kubernetes users and groups "
                "themselves (system:masters)"
            )
        if prefix.lower().startswith("system:"):
            raise ConfigError(f"{flag} {prefix!r} would make Kubernetes system identities")
    if issuer.startswith("http://") and not _loopback(urlsplit(issuer).hostname):
        raise ConfigError(
            f"issuer {issuer!r} is plain http off this machine: use https "
            "(http only on loopback: 127.0.0.0/8, ::1, localhost)"
        )


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: where it resolves is not ours to trust
        return False

"""`python -m scipian_backend serve|register|update|upgrade-target|unregister|list|revoke|
rotate-dashboard-keys|cleanup`: the server and its admin CLI.

Errors are one line on stderr and a non-zero exit (2: bad input, 1: a cluster refused or
was unreachable), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from scipian_backend.errors import ApiError, ConfigError

if TYPE_CHECKING:
    from scipian_backend.cleanup.settings import CleanupSettings
    from scipian_backend.config import Settings
    from scipian_backend.worker.settings import WorkerSettings


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scipian_backend", description=__doc__)
    p.add_argument(
        "--mgmt-kubeconfig",
        default=_env("SCIPIAN_MGMT_KUBECONFIG"),
        help="kubeconfig of the management cluster (default: $SCIPIAN_MGMT_KUBECONFIG, "
        "else in-cluster config)",
    )
    p.add_argument("--namespace", default=_env("SCIPIAN_NAMESPACE", "scipian-system"))
    p.add_argument(
        "--sessions-namespace", default=_env("SCIPIAN_SESSIONS_NAMESPACE", "scipian-sessions")
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", default=_env("SCIPIAN_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(_env("SCIPIAN_PORT", "8080") or 8080))
    s.add_argument("--issuer", default=_env("SCIPIAN_ISSUER"))
    s.add_argument("--client-id", default=_env("SCIPIAN_CLIENT_ID", "kubectl-scipian"))
    s.add_argument("--username-claim", default=_env("SCIPIAN_USERNAME_CLAIM", "email"))
    s.add_argument("--groups-claim", default=_env("SCIPIAN_GROUPS_CLAIM", "groups"))
    s.add_argument("--username-prefix", default=_env("SCIPIAN_USERNAME_PREFIX", "oidc:"))
    s.add_argument("--groups-prefix", default=_env("SCIPIAN_GROUPS_PREFIX", "oidc:"))
    s.add_argument(
        "--jwks-min-refetch",
        type=float,
        default=30.0,
        help="after a JWKS fetch caused by an unknown key id, refuse other unknown key ids "
        "at once for this many seconds (default 30)",
    )
    s.add_argument(
        "--max-token-lifetime",
        type=int,
        default=3600,
        help="deploy-level and promotion operations refuse id_tokens whose exp - iat exceeds "
        "this many seconds (default 3600; 60..86400)",
    )
    s.add_argument(
        "--leeway",
        type=int,
        default=30,
        help="seconds of clock skew allowed on exp/iat (default 30)",
    )
    s.add_argument(
        "--rate-limit",
        default=_env("SCIPIAN_RATE_LIMIT", "600/60s"),
        help="issuances per user and replica, TOKENS/PERIOD like 30/60s; 0 disables "
        "(default 600/60s)",
    )
    s.add_argument(
        "--rate-limit-burst",
        type=int,
        default=None,
        help="bucket size (default: 100, at most TOKENS)",
    )
    # The other authenticated routes' buckets (ratelimit.py, change.md §11).
    s.add_argument(
        "--read-rate-limit",
        default="1200/60s",
        help="reads and listings per user and replica, TOKENS/PERIOD; 0 disables "
        "(default 1200/60s)",
    )
    s.add_argument(
        "--read-rate-limit-burst", type=int, default=None, help="default: 200, at most TOKENS"
    )
    s.add_argument(
        "--write-rate-limit",
        default="120/60s",
        help="rollback records and promotion requests per user and replica; 0 disables "
        "(default 120/60s)",
    )
    s.add_argument(
        "--write-rate-limit-burst", type=int, default=None, help="default: 30, at most TOKENS"
    )
    s.add_argument(
        "--event-flush-seconds",
        type=float,
        default=1.0,
        help="how long Events of one user, environment and outcome are aggregated (default 1)",
    )
    s.add_argument("--log-level", default=_env("SCIPIAN_LOG_LEVEL", "info"))
    # Behind an Ingress, Gateway or balancer: whose X-Forwarded-For/-Proto to believe.
    s.add_argument(
        "--forwarded-allow-ips",
        default=_env("SCIPIAN_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="comma-separated addresses or CIDRs of the proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are trusted; '*' trusts every peer (default 127.0.0.1)",
    )
    # SIGTERM (http/shutdown.py): the chart's readinessProbe checks every 10 s, so two
    # intervals of failing /readyz take the replica out of rotation before it stops listening.
    s.add_argument(
        "--shutdown-unready-seconds",
        type=float,
        default=20.0,
        help="on SIGTERM, /readyz fails this long before the replica stops listening: two "
        "of the balancer's health check intervals (default 20, the chart's probe: 10 s)",
    )
    s.add_argument(
        "--shutdown-drain-seconds",
        type=float,
        default=30.0,
        help="then requests in flight get this long to end before they are cancelled (default 30)",
    )
    lg = s.add_argument_group('listing environments (docs/backend.md, "Listing environments")')
    lg.add_argument(
        "--no-environment-cache",
        action="store_true",
        help="list every Environment from mgmt on each listing instead of keeping them "
        "watch-fed (for comparisons; default: cached)",
    )
    lg.add_argument(
        "--no-rbac-index",
        action="store_true",
        help="ask one SubjectAccessReview per Environment on each listing instead of only "
        "the candidates mgmt's ClusterRoleBindings name (for comparisons; default: indexed)",
    )
    lg.add_argument(
        "--cache-ready-seconds",
        type=float,
        default=30.0,
        help="at start, wait at most this long for the caches' first lists; /readyz fails "
        "until they are read (default 30)",
    )
    bg = s.add_argument_group("break-glass and metrics")
    bg.add_argument(
        "--metrics-detail",
        action="store_true",
        help="environment ids in /metrics labels (default: gated/ungated only; /metrics "
        "needs no authentication)",
    )
    bg.add_argument(
        "--break-glass-history",
        type=int,
        default=50,
        help="break-glass entries kept in an Environment's status, the unacknowledged "
        "last to go (default 50)",
    )
    bg.add_argument(
        "--pending-approvals-cache-seconds",
        type=float,
        default=15.0,
        help="how long one count of scipian_pending_approvals (a list on mgmt per kind) "
        "serves /metrics (default 15)",
    )
    bg.add_argument(
        "--event-namespace",
        default=_env("SCIPIAN_EVENT_NAMESPACE", "default"),
        help="where Events about Environments are written (default: default)",
    )
    nt = s.add_argument_group('notifications (docs/api.md, "Notifications")')
    nt.add_argument(
        "--notify-url",
        default=_env("SCIPIAN_NOTIFY_URL"),
        help="http(s) URL each notification event is POSTed to as JSON (default: none; "
        "or SCIPIAN_NOTIFY_URL, which keeps a URL holding a secret off the command line)",
    )
    nt.add_argument(
        "--notify-queue",
        type=int,
        default=1000,
        help="events waiting to be sent; beyond, new ones are dropped and counted (default 1000)",
    )
    nt.add_argument(
        "--notify-timeout-seconds",
        type=float,
        default=5.0,
        help="each POST's timeout (default 5)",
    )
    nt.add_argument(
        "--notify-retries",
        type=int,
        default=3,
        help="tries after a failed POST, with backoff from 1 s doubling (default 3)",
    )
    pr = s.add_argument_group('promotions (docs/api.md, "Promotions")')
    pr.add_argument(
        "--promotion-body-max-bytes",
        type=int,
        default=160 * 1024,
        help="the create body's largest size (default 163840)",
    )
    pr.add_argument(
        "--promotion-values-max-bytes",
        type=int,
        default=96 * 1024,
        help="values (base64) and sets of one promotion, in all (default 98304)",
    )
    pr.add_argument(
        "--promotion-render-timeout",
        type=float,
        default=20.0,
        help="seconds one creation render (helm template) may take (default 20)",
    )
    pr.add_argument(
        "--promotion-active-per-user",
        type=int,
        default=5,
        help="unfinished promotions one user may have started (default 5)",
    )
    pr.add_argument(
        "--promotion-creations-per-hour",
        type=int,
        default=10,
        help="promotions one user may create per hour (default 10)",
    )
    pr.add_argument(
        "--promotion-diff-cache",
        type=int,
        default=256,
        help="step diffs kept per replica, each for (promotion, step, live revision) (default 256)",
    )
    pr.add_argument(
        "--promotion-watch-seconds",
        type=float,
        default=60.0,
        help="the longest a promotion's long poll waits for a change (default 60)",
    )
    pr.add_argument(
        "--promotion-watches-per-replica",
        type=int,
        default=64,
        help="long polls waiting at once; beyond, answered at once (default 64)",
    )
    rq = s.add_argument_group('access requests (docs/api.md, "Access requests")')
    for flag, default, text in (
        ("--request-pending-seconds", 86400, "a request waits this long for a decision"),
        ("--request-max-pending-per-env", 3, "pending requests per user and environment"),
        ("--request-max-pending-per-user", 10, "pending requests per user"),
        ("--request-creations-per-hour", 20, "requests one user may create per hour"),
    ):
        rq.add_argument(flag, type=int, default=default, help=f"{text} (default {default})")
    d = s.add_argument_group("dashboard (/ui/, docs/ui.md); off without --ui-client-id")
    d.add_argument("--ui-client-id", default=_env("SCIPIAN_UI_CLIENT_ID"))
    d.add_argument(
        "--ui-client-secret-file",
        default=_env("SCIPIAN_UI_CLIENT_SECRET_FILE"),
        help="a file holding the dashboard client's secret (never on the command line)",
    )
    d.add_argument(
        "--public-url",
        default=_env("SCIPIAN_PUBLIC_URL"),
        help="the backend's URL as browsers reach it; the redirect URI is <URL>/ui/callback",
    )
    d.add_argument(
        "--ui-session-max-seconds",
        type=int,
        default=int(_env("SCIPIAN_UI_SESSION_MAX_SECONDS", "28800") or 28800),
        help="a dashboard session's longest life (default 8 h; never past the id_token's exp)",
    )
    d.add_argument(
        "--ui-follows-per-user",
        type=int,
        default=10,
        help="log follows one user may have open on this replica (default 10)",
    )
    d.add_argument(
        "--ui-follows-per-replica",
        type=int,
        default=200,
        help="log follows open on this replica in all (default 200)",
    )
    d.add_argument(
        "--ui-log-line-bytes",
        type=int,
        default=16384,
        help="a followed log line is cut at this many bytes (default 16384)",
    )
    d.add_argument(
        "--ui-login-seconds",
        type=int,
        default=600,
        help="a sign-in must come back from the provider within this (default 600)",
    )
    d.add_argument(
        "--ui-sessions-per-user",
        type=int,
        default=20,
        help="dashboard sessions a user holds at once; a new sign-in ends the oldest (default 20)",
    )
    d.add_argument(
        "--ui-session-sweep-seconds",
        type=float,
        default=300.0,
        help="how often the worker room deletes expired sessions (default 300)",
    )
    d.add_argument(
        "--ui-keys-secret",
        default="scipian-dashboard-keys",
        help="the Secret in scipian-dashboard holding the keys sealing pending logins "
        "(created when missing; default scipian-dashboard-keys)",
    )
    d.add_argument(
        "--ui-key-rotation-seconds",
        type=int,
        default=7 * 86400,
        help="the worker room rotates the sealing keys this often; 0: never (default 7 days)",
    )
    d.add_argument(
        "--ui-key-cache-seconds",
        type=float,
        default=30.0,
        help="how long a replica trusts the sealing keys it read (default 30)",
    )
    d.add_argument(
        "--ui-follow-check-seconds",
        type=float,
        default=5.0,
        help="a log follow ends within this of its session's logout on another replica (default 5)",
    )
    d.add_argument(
        "--ui-login-rate-limit",
        default="120/60s",
        help="sign-ins per client address (the forwarded one behind --forwarded-allow-ips) "
        "and replica; 0 disables (default 120/60s)",
    )
    d.add_argument(
        "--ui-login-rate-limit-burst", type=int, default=None, help="default: 60, at most TOKENS"
    )

    _release_record_options(s)
    _worker_options(s)
    _cleanup_options(s, serve=True)
    _helm_options(s)

    r = sub.add_parser("register", help="register an environment from a kubeconfig file")
    r.add_argument("--name", required=True)
    r.add_argument("--kubeconfig", required=True, help="ADMIN kubeconfig of the target cluster")
    r.add_argument("--context", default=None)
    r.add_argument("--description", default="")
    r.add_argument(
        "--cluster-role",
        default=None,
        help="the ClusterRole users get: scipian-observer (default for a new environment; "
        "an existing one keeps its role), view, or any other",
    )
    r.add_argument("--ttl", type=int, default=900)
    r.add_argument(
        "--allow-privileged-role",
        action="store_true",
        help="accept cluster-admin, admin or a role allowing escalate, bind or impersonate "
        "(recorded on the Environment, shown by list)",
    )
    r.add_argument(
        "--max-access-seconds",
        type=int,
        default=14400,
        help="the longest window an access request may ask for (default 14400; 60..604800)",
    )
    _deploy_options(r)

    u = sub.add_parser(
        "update",
        help="change a registered environment; options not given keep their values",
    )
    u.add_argument("--name", required=True)
    u.add_argument("--kubeconfig", required=True, help="ADMIN kubeconfig of the target cluster")
    u.add_argument("--context", default=None)
    u.add_argument("--description", default=None)
    u.add_argument("--cluster-role", default=None)
    u.add_argument("--ttl", type=int, default=None)
    u.add_argument(
        "--allow-privileged-role",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="as register's; --no-allow-privileged-role withdraws it (default: keep)",
    )
    u.add_argument("--max-access-seconds", type=int, default=None, help="as register's")
    _deploy_options(u)
    u.add_argument("--no-deploy", action="store_true", help="remove the deploy level")

    _lifecycle_parsers(sub)
    c = sub.add_parser(
        "cleanup",
        help='run one cleanup pass (docs/backend.md "Cleanup") and print its counts as JSON',
    )
    c.add_argument(
        "--kubeconfig",
        dest="cleanup_kubeconfig",
        metavar="MGMT_KUBECONFIG",
        default=None,
        help="kubeconfig of the management cluster (default: --mgmt-kubeconfig)",
    )
    c.add_argument(
        "--namespace",
        dest="cleanup_namespace",
        metavar="NS",
        default=None,
        help="the backend's namespace on mgmt (default: --namespace; informational)",
    )
    c.add_argument(
        "--sessions-namespace",
        dest="cleanup_sessions_namespace",
        metavar="NS",
        default=None,
        help="the sessions namespace on every target (default: --sessions-namespace)",
    )
    c.add_argument(
        "--event-namespace",
        default=_env("SCIPIAN_EVENT_NAMESPACE", "default"),
        help="where the backend's Events about Environments are (default: default)",
    )
    c.add_argument(
        "--advance-seconds",
        type=int,
        default=0,
        help="judge as if the clock were this many seconds ahead (benches; default 0)",
    )
    _cleanup_options(c, serve=False)

    ls = sub.add_parser("list", help="list registered environments")
    ls.add_argument("-o", "--output", choices=("table", "json"), default="table")

    v = sub.add_parser("revoke", help="revoke a user's sessions on an environment")
    v.add_argument("--env", required=True)
    v.add_argument("--user", required=True, help="e.g. alice@example.test or oidc:alice@...")
    v.add_argument("--username-prefix", default=_env("SCIPIAN_USERNAME_PREFIX", "oidc:"))
    k = sub.add_parser(
        "rotate-dashboard-keys",
        help="a new current key sealing the dashboard's pending logins; the previous one "
        "still opens them (run twice to drop a leaked key at once)",
    )
    k.add_argument("--secret", default="scipian-dashboard-keys", help="as serve --ui-keys-secret")
    return p


def _lifecycle_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`upgrade-target` and `unregister` (environments/upgrade.py, unregister.py)."""
    g = sub.add_parser(
        "upgrade-target",
        help="re-apply the broker role, the deployer role and the admission policies on an "
        "environment's target; move a stored clusterRole edit to scipian-deployer",
    )
    g.add_argument("--name", required=True)
    g.add_argument("--kubeconfig", required=True, help="ADMIN kubeconfig of the target cluster")
    g.add_argument("--context", default=None)
    g.add_argument(
        "--keep-role", action="store_true", help="keep a stored clusterRole edit as it is"
    )
    x = sub.add_parser(
        "unregister", help="remove an environment: its identities on the target, then it"
    )
    x.add_argument("--name", required=True)
    x.add_argument(
        "--kubeconfig",
        default=None,
        help="ADMIN kubeconfig of the target (default: the environment's broker credential)",
    )
    x.add_argument("--context", default=None)


def _lifecycle(args: argparse.Namespace, mgmt: object) -> int:
    from scipian_backend import kube

    if args.command == "upgrade-target":
        from scipian_backend.environments.upgrade import upgrade_target

        target = kube.from_kubeconfig_file(args.kubeconfig, args.context)
        server, changes = upgrade_target(
            mgmt, target, args.name, args.sessions_namespace, keep_role=args.keep_role
        )
        moved = " (clusterRole edit -> scipian-deployer)" if changes else ""
        print(f"environment {args.name}: target {server} upgraded{moved}")
        return 0
    from scipian_backend.environments.unregister import unregister

    admin_api = (
        kube.from_kubeconfig_file(args.kubeconfig, args.context) if args.kubeconfig else None
    )
    n = unregister(mgmt, args.name, args.sessions_namespace, admin_api)
    print(f"environment {args.name} unregistered ({n} identities removed from its target)")
    return 0


def _release_record_options(p: argparse.ArgumentParser) -> None:
    """Bounds on decoding Helm release records (anyone who may create a ConfigMap can plant
    one): a record past any of them is reported undecodable (docs/api.md)."""
    from scipian_backend.releases import records

    g = p.add_argument_group("release records (docs/backend.md)")
    g.add_argument(
        "--release-record-max-bytes",
        type=int,
        default=records.MAX_PAYLOAD,
        help=f"stored size of one record (default {records.MAX_PAYLOAD})",
    )
    g.add_argument(
        "--release-record-max-decompressed",
        type=int,
        default=records.MAX_DECOMPRESSED,
        help=f"its JSON after gzip, checked while inflating (default {records.MAX_DECOMPRESSED})",
    )
    g.add_argument(
        "--release-record-max-depth",
        type=int,
        default=records.MAX_DEPTH,
        help=f"nesting of its JSON (default {records.MAX_DEPTH})",
    )
    g.add_argument(
        "--release-record-decode-concurrency",
        type=int,
        default=records.DECODE_CONCURRENCY,
        help=f"records decoded at once per replica (default {records.DECODE_CONCURRENCY})",
    )


def _worker_options(p: argparse.ArgumentParser) -> None:
    """The worker room (worker/, docs/backend.md "The worker room")."""
    from scipian_backend.worker.settings import WorkerSettings

    d = WorkerSettings()
    g = p.add_argument_group("worker room (docs/backend.md)")
    g.add_argument(
        "--replica-id",
        default=_env("SCIPIAN_REPLICA_ID", ""),
        help="this replica's name in Lease holders and executedBy (default: hostname-pid)",
    )
    g.add_argument(
        "--no-worker",
        action="store_true",
        help="run no worker room: this process claims and executes nothing",
    )
    g.add_argument(
        "--worker-lease-seconds",
        type=int,
        default=d.lease_seconds,
        help=f"an execution Lease's duration (default {d.lease_seconds})",
    )
    g.add_argument(
        "--worker-renew-seconds",
        type=float,
        default=d.renew_seconds,
        help=f"held Leases are renewed this often (default {d.renew_seconds:g})",
    )
    g.add_argument(
        "--worker-lost-after-seconds",
        type=float,
        default=d.lost_after_seconds,
        help="a claim not renewed for this long is lost: its helm is killed, its work given "
        f"up (default {d.lost_after_seconds:g})",
    )
    g.add_argument(
        "--worker-threads",
        type=int,
        default=d.threads,
        help=f"turns run at once on this replica (default {d.threads})",
    )
    g.add_argument(
        "--worker-stop-seconds",
        type=float,
        default=d.stop_seconds,
        help="at shutdown, how long running turns get to end before their claims are "
        f"declared lost (default {d.stop_seconds:g})",
    )
    g.add_argument(
        "--worker-resync-seconds",
        type=float,
        default=d.resync_seconds,
        help=f"every object is looked at again this often (default {d.resync_seconds:g})",
    )
    g.add_argument(
        "--worker-selector",
        default="",
        help="a label selector: this replica works only the objects it matches (shards; "
        "default all)",
    )
    g.add_argument(
        "--worker-periodic-lease",
        default=d.periodic_lease,
        help="the Lease whose holder runs the periodic tasks, one replica at a time "
        f"(default {d.periodic_lease})",
    )


def _cleanup_options(p: argparse.ArgumentParser, serve: bool) -> None:
    """The cleanup (cleanup/, docs/backend.md "Cleanup"): serve's periodic task and the
    one-shot `cleanup` command take the same numbers."""
    from scipian_backend.cleanup.settings import CleanupSettings

    d = CleanupSettings()
    g = p.add_argument_group("cleanup (docs/backend.md)")
    if serve:
        g.add_argument(
            "--no-cleanup",
            action="store_true",
            help="this replica's worker room does not run the cleanup",
        )
        g.add_argument(
            "--cleanup-interval-seconds",
            type=float,
            default=d.interval_seconds,
            help=f"how often the cleanup runs, on one replica (default {d.interval_seconds:g})",
        )
    g.add_argument(
        "--identity-idle-days",
        type=int,
        default=d.identity_idle_days,
        help="identities last issued longer ago are removed from their targets "
        f"(default {d.identity_idle_days})",
    )
    g.add_argument(
        "--finished-retention-days",
        type=int,
        default=d.finished_retention_days,
        help="Promotions and AccessRequests finished longer ago are deleted "
        f"(default {d.finished_retention_days})",
    )
    g.add_argument(
        "--event-retention-days",
        type=int,
        default=d.event_retention_days,
        help=f"the backend's older Events are deleted (default {d.event_retention_days})",
    )
    g.add_argument(
        "--events-per-object",
        type=int,
        default=d.events_per_object,
        help="the backend's Events kept per involved object, the newest "
        f"(default {d.events_per_object})",
    )
    g.add_argument(
        "--cleanup-parallelism",
        type=int,
        default=d.parallelism,
        help=f"deletes in flight at once (default {d.parallelism})",
    )
    g.add_argument(
        "--cleanup-target-timeout-seconds",
        type=float,
        default=d.target_timeout_seconds,
        help="one target's share of a pass; past it the target counts as failed "
        f"(default {d.target_timeout_seconds:g})",
    )
    g.add_argument(
        "--cleanup-binding-grace-seconds",
        type=float,
        default=d.binding_grace_seconds,
        help="a binding whose ServiceAccount is gone is removed only when older than this "
        f"(default {d.binding_grace_seconds:g})",
    )
    g.add_argument(
        "--cleanup-page-size",
        type=int,
        default=d.page_size,
        help=f"objects per list call (default {d.page_size})",
    )


def _cleanup_settings(args: argparse.Namespace) -> CleanupSettings:
    from scipian_backend.cleanup.settings import CleanupSettings

    s = CleanupSettings(
        enabled=not getattr(args, "no_cleanup", False),
        interval_seconds=getattr(args, "cleanup_interval_seconds", 3600.0),
        identity_idle_days=args.identity_idle_days,
        finished_retention_days=args.finished_retention_days,
        event_retention_days=args.event_retention_days,
        events_per_object=args.events_per_object,
        parallelism=args.cleanup_parallelism,
        target_timeout_seconds=args.cleanup_target_timeout_seconds,
        page_size=args.cleanup_page_size,
        binding_grace_seconds=args.cleanup_binding_grace_seconds,
    )
    s.check()
    return s


def _cleanup(args: argparse.Namespace) -> int:
    """One pass; its counts as one JSON object on stdout (the log line on stderr)."""
    import logging
    from datetime import datetime, timedelta, timezone

    from scipian_backend import kube
    from scipian_backend.cleanup.run import Cleanup

    settings = _cleanup_settings(args)
    if not 0 <= args.advance_seconds <= 10 * 366 * 86400:
        raise ConfigError("--advance-seconds must be between 0 and ten years")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for noisy in ("kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mgmt = kube.mgmt_client(args.cleanup_kubeconfig or args.mgmt_kubeconfig)
    sessions = args.cleanup_sessions_namespace or args.sessions_namespace
    now = datetime.now(timezone.utc) + timedelta(seconds=args.advance_seconds)
    counts = Cleanup(mgmt, settings, sessions, args.event_namespace).run(now)
    print(json.dumps(counts.as_json()))
    return 0


def _worker_settings(args: argparse.Namespace) -> WorkerSettings:
    from scipian_backend.worker.settings import WorkerSettings

    return WorkerSettings(
        enabled=not args.no_worker,
        replica=args.replica_id,
        lease_seconds=args.worker_lease_seconds,
        renew_seconds=args.worker_renew_seconds,
        lost_after_seconds=args.worker_lost_after_seconds,
        threads=args.worker_threads,
        stop_seconds=args.worker_stop_seconds,
        resync_seconds=args.worker_resync_seconds,
        selector=args.worker_selector,
        periodic_lease=args.worker_periodic_lease,
    )


def _helm_options(p: argparse.ArgumentParser) -> None:
    """The backend's own helm (helmrun/sandbox.py) and chart uploads (artifacts/)."""
    g = p.add_argument_group("helm and chart uploads (change.md §5)")
    g.add_argument(
        "--helm",
        default=_env("SCIPIAN_HELM"),
        help="the Helm 4 binary every upload check, render and promotion step runs "
        "(default: none; those routes answer 503)",
    )
    g.add_argument(
        "--helm-scratch-dir",
        default=_env("SCIPIAN_HELM_SCRATCH_DIR"),
        help="where helm's private workspaces live (a size-limited emptyDir in the chart; "
        "default: a private temporary dir)",
    )
    for flag, default, kind, text in (
        ("--helm-max-runs", 2, int, "helm processes at once per replica, every kind of run"),
        ("--helm-memory-bytes", 512 * 1024 * 1024, int, "one helm's heap (RLIMIT_DATA)"),
        ("--helm-cpu-seconds", 120, int, "one helm's CPU time (RLIMIT_CPU)"),
        ("--helm-term-grace-seconds", 30.0, float, "SIGTERM to SIGKILL on timeout or cancel"),
        ("--helm-wait-slot-seconds", 20.0, float, "a run's wait for a free slot"),
        ("--helm-output-bytes", 32 * 1024 * 1024, int, "helm's stdout and stderr, each"),
        ("--helm-scratch-bytes", 64 * 1024 * 1024, int, "what the workspaces hold at once"),
        ("--chart-max-bytes", 1_000_000, int, "one uploaded chart archive"),
        ("--chart-max-decompressed", 10 * 1024 * 1024, int, "an archive inflated, in all"),
        ("--chart-max-through", 10, int, "environments an upload's ?through= names"),
        ("--chart-uploads-per-hour", 50, int, "uploads per user and hour"),
        ("--chart-unreferenced-per-user", 20, int, "a user's archives no promotion uses"),
        ("--chart-store-bytes", 200 * 1024 * 1024, int, "stored archives in all (507 beyond)"),
        ("--chart-unreferenced-seconds", 3600, int, "an archive no promotion names lives"),
        ("--chart-after-use-seconds", 86400, int, "an archive lives after its last use"),
        ("--chart-collect-seconds", 300.0, float, "how often unused archives are collected"),
    ):
        g.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    e = p.add_argument_group("promotion execution (change.md §5, promotions/deadlines.py)")
    for flag, default, kind, text in (
        ("--promotion-approval-seconds", 259_200, int, "a step's wait for its approvals"),
        ("--promotion-idle-factor", 2.0, float, "a Pending promotion's idle limit, in timeouts"),
        ("--promotion-soak-check-seconds", 2.0, float, "the soak's re-check interval"),
    ):
        e.add_argument(flag, type=kind, default=default, help=f"{text} (default {default})")
    p.add_argument(
        "--request-token-floor-seconds",
        type=int,
        default=600,
        help="the shortest token under an access request, whatever its window has left "
        "(the worker deletes its sessions at the window's end; default 600, at least 600)",
    )


def _deploy_options(p: argparse.ArgumentParser) -> None:
    """spec.deploy (docs/backend.md): given any of them, the environment has a deploy level
    (--deploy-namespace is then required)."""
    g = p.add_argument_group("deploy level (spec.deploy)")
    g.add_argument(
        "--deploy-namespace",
        action="append",
        default=None,
        metavar="NS",
        help="a namespace the deploy role is bound in (repeat for more)",
    )
    g.add_argument(
        "--deploy-cluster-role", default=None, help="ClusterRole (default scipian-deployer)"
    )
    g.add_argument("--deploy-ttl", type=int, default=None, help="seconds (default 600)")
    g.add_argument(
        "--max-auth-age",
        type=int,
        default=None,
        help="step-up: the login may be at most this many seconds old (default 300; 5..3600)",
    )
    g.add_argument("--require-promotion-from", default=None, metavar="ENV")
    g.add_argument("--approvals", type=int, default=None, metavar="N")


def _deploy_changes(args: argparse.Namespace) -> dict[str, object]:
    given = {
        "namespaces": args.deploy_namespace,
        "cluster_role": args.deploy_cluster_role,
        "ttl_seconds": args.deploy_ttl,
        "max_auth_age_seconds": args.max_auth_age,
        "require_promotion_from": args.require_promotion_from,
        "approvals_required": args.approvals,
    }
    return {k: v for k, v in given.items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as e:
        print(f"scipian-backend: {e}", file=sys.stderr)
        return 2
    except ApiError as e:
        print(f"scipian-backend: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        print(f"scipian-backend: {_describe(e)}", file=sys.stderr)
        return 1


def _describe(e: Exception) -> str:
    from kubernetes.client.rest import ApiException

    if isinstance(e, ApiException):
        return f"the cluster refused the request: HTTP {e.status} {e.reason}"
    text = str(e).splitlines()[0][:200] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "cleanup":
        return _cleanup(args)
    from scipian_backend import kube
    from scipian_backend.config import DEFAULT_DEPLOY_ROLE, valid_env_id
    from scipian_backend.environments import admin
    from scipian_backend.environments.store import Deploy, Store

    mgmt = kube.mgmt_client(args.mgmt_kubeconfig)
    if args.command in ("upgrade-target", "unregister"):
        return _lifecycle(args, mgmt)
    if args.command == "register":
        import dataclasses

        changes = _deploy_changes(args)
        if changes and "namespaces" not in changes:
            raise ConfigError("a deploy level needs at least one --deploy-namespace")
        reg = admin.Registration(
            name=args.name,
            description=args.description,
            cluster_role=admin.role_for(args.cluster_role, None),
            ttl_seconds=args.ttl,
            namespace=args.namespace,
            sessions_namespace=args.sessions_namespace,
            deploy=Deploy(**{"cluster_role": DEFAULT_DEPLOY_ROLE, **changes}) if changes else None,  # type: ignore[arg-type]
            allow_privileged_role=args.allow_privileged_role,
            max_access_seconds=args.max_access_seconds,
        )
        reg.validate()  # before touching any cluster
        admin.check_not_a_command(reg.name)
        target = kube.from_kubeconfig_file(args.kubeconfig, args.context)
        if args.cluster_role is None:  # an existing environment keeps its role
            existing = Store(mgmt).get(args.name)
            role = admin.role_for(None, existing.cluster_role if existing else None)
            reg = dataclasses.replace(reg, cluster_role=role)
        server = admin.register(mgmt, target, reg)
        print(f"environment {args.name} registered (target {server})")
        return 0
    if args.command == "update":
        changes = _deploy_changes(args)
        if args.no_deploy and changes:
            raise ConfigError("--no-deploy and deploy options exclude each other")
        current = Store(mgmt).get(args.name) if valid_env_id(args.name) else None
        if current is None:
            raise ConfigError(f"no environment {args.name} (register it first)")
        reg = admin.updated(
            current,
            {
                "description": args.description,
                "cluster_role": args.cluster_role,
                "ttl_seconds": args.ttl,
                "namespace": args.namespace,
                "sessions_namespace": args.sessions_namespace,
                "deploy": False if args.no_deploy else changes,
                "allow_privileged_role": args.allow_privileged_role,
                "max_access_seconds": args.max_access_seconds,
            },
        )
        reg.validate()
        if reg.deploy is not None and not reg.deploy.namespaces:
            raise ConfigError("a deploy level needs at least one --deploy-namespace")
        target = kube.from_kubeconfig_file(args.kubeconfig, args.context)
        server = admin.register(mgmt, target, reg)
        print(f"environment {args.name} updated (target {server})")
        return 0
    if args.command == "list":
        envs = admin.list_environments(mgmt)
        if args.output == "json":
            items = [
                {
                    "id": e.id,
                    "description": e.description,
                    "clusterRole": e.cluster_role,
                    "ttlSeconds": e.ttl_seconds,
                    "deploy": admin.deploy_spec(e.deploy) if e.deploy is not None else None,
                    "allowPrivilegedRole": e.allow_privileged_role,
                    "maxAccessSeconds": e.max_access_seconds,
                }
                for e in envs
            ]
            print(json.dumps({"items": items}, indent=2))
        else:
            print(
                f"{'NAME':20} {'CLUSTERROLE':16} {'TTL':6} {'DEPLOY':24} {'PRIVILEGED':10} "
                "DESCRIPTION"
            )
            for e in envs:
                deploy = (
                    f"{e.deploy.cluster_role} in {','.join(e.deploy.namespaces)}"
                    if e.deploy is not None
                    else "-"
                )
                privileged = "allowed" if e.allow_privileged_role else "-"
                print(
                    f"{e.id:20} {e.cluster_role:16} {e.ttl_seconds:<6} {deploy:24} "
                    f"{privileged:10} {e.description}"
                )
        return 0
    if args.command == "rotate-dashboard-keys":
        from datetime import datetime, timezone

        from scipian_backend.ui.sealing_keys import SealingKeys

        keys = SealingKeys(mgmt, args.secret)
        kid = keys.rotate(datetime.now(timezone.utc))
        if kid is None:
            raise ConfigError(f"{keys.namespace}/{args.secret} changed meanwhile; run it again")
        print(f"dashboard keys {keys.namespace}/{args.secret}: current key {kid}")
        return 0
    if args.command == "revoke":
        user = admin.normalize_user(args.user, args.username_prefix)
        n = admin.revoke(mgmt, args.env, user, args.sessions_namespace)
        print(f"revoked {n} session(s) of {user} on {args.env}")
        return 0
    raise ConfigError(f"unknown command {args.command}")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from scipian_backend.audit.records import audit_logger
    from scipian_backend.config import Settings, check_serve_identity
    from scipian_backend.http.factory import create_app
    from scipian_backend.http.shutdown import DrainingServer
    from scipian_backend.wiring import build_backend

    if not args.issuer:
        raise ConfigError("--issuer (or SCIPIAN_ISSUER) is required")
    if not 0 <= args.leeway <= 300:
        raise ConfigError("--leeway must be between 0 and 300 seconds")
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a port number")
    if not 0 <= args.jwks_min_refetch <= 3600:
        raise ConfigError("--jwks-min-refetch must be between 0 and 3600 seconds")
    if not 60 <= args.max_token_lifetime <= 86400:
        raise ConfigError("--max-token-lifetime must be between 60 and 86400 seconds")
    settings = Settings(
        issuer=args.issuer,
        client_id=args.client_id,
        mgmt_kubeconfig=args.mgmt_kubeconfig,
        namespace=args.namespace,
        sessions_namespace=args.sessions_namespace,
        username_claim=args.username_claim,
        groups_claim=args.groups_claim,
        username_prefix=args.username_prefix,
        groups_prefix=args.groups_prefix,
        jwks_min_refetch_seconds=args.jwks_min_refetch,
        max_token_lifetime_seconds=args.max_token_lifetime,
        leeway_seconds=args.leeway,
        rate_limit=args.rate_limit,
        rate_limit_burst=args.rate_limit_burst,
        read_rate_limit=args.read_rate_limit,
        read_rate_limit_burst=args.read_rate_limit_burst,
        write_rate_limit=args.write_rate_limit,
        write_rate_limit_burst=args.write_rate_limit_burst,
        event_flush_seconds=args.event_flush_seconds,
        ui_client_id=args.ui_client_id or None,
        ui_client_secret=_secret_file(args.ui_client_secret_file),
        public_url=args.public_url,
        ui_session_max_seconds=args.ui_session_max_seconds,
        ui_follows_per_user=args.ui_follows_per_user,
        ui_follows_per_replica=args.ui_follows_per_replica,
        ui_log_line_bytes=args.ui_log_line_bytes,
        ui_login_seconds=args.ui_login_seconds,
        ui_sessions_per_user=args.ui_sessions_per_user,
        ui_session_sweep_seconds=args.ui_session_sweep_seconds,
        ui_keys_secret=args.ui_keys_secret,
        ui_key_rotation_seconds=args.ui_key_rotation_seconds,
        ui_key_cache_seconds=args.ui_key_cache_seconds,
        ui_follow_check_seconds=args.ui_follow_check_seconds,
        ui_login_rate_limit=args.ui_login_rate_limit,
        ui_login_rate_limit_burst=args.ui_login_rate_limit_burst,
        release_record_max_bytes=args.release_record_max_bytes,
        release_record_max_decompressed=args.release_record_max_decompressed,
        release_record_max_depth=args.release_record_max_depth,
        release_record_decode_concurrency=args.release_record_decode_concurrency,
        metrics_detail=args.metrics_detail,
        break_glass_history=args.break_glass_history,
        promotion_body_max_bytes=args.promotion_body_max_bytes,
        promotion_values_max_bytes=args.promotion_values_max_bytes,
        promotion_render_timeout_seconds=args.promotion_render_timeout,
        promotion_active_per_user=args.promotion_active_per_user,
        promotion_creations_per_hour=args.promotion_creations_per_hour,
        promotion_watch_seconds=args.promotion_watch_seconds,
        promotion_watches_per_replica=args.promotion_watches_per_replica,
        promotion_diff_cache=args.promotion_diff_cache,
        request_pending_seconds=args.request_pending_seconds,
        request_max_pending_per_env=args.request_max_pending_per_env,
        request_max_pending_per_user=args.request_max_pending_per_user,
        request_creations_per_hour=args.request_creations_per_hour,
        event_namespace=args.event_namespace,
        worker=_worker_settings(args),
        cleanup=_cleanup_settings(args),
        helm=args.helm or None,
        helm_scratch_dir=args.helm_scratch_dir or None,
        helm_max_runs=args.helm_max_runs,
        helm_memory_bytes=args.helm_memory_bytes,
        helm_cpu_seconds=args.helm_cpu_seconds,
        helm_term_grace_seconds=args.helm_term_grace_seconds,
        helm_wait_slot_seconds=args.helm_wait_slot_seconds,
        helm_output_bytes=args.helm_output_bytes,
        helm_scratch_bytes=args.helm_scratch_bytes,
        chart_max_bytes=args.chart_max_bytes,
        chart_max_decompressed=args.chart_max_decompressed,
        chart_max_through=args.chart_max_through,
        chart_uploads_per_hour=args.chart_uploads_per_hour,
        chart_unreferenced_per_user=args.chart_unreferenced_per_user,
        chart_store_bytes=args.chart_store_bytes,
        promotion_approval_seconds=args.promotion_approval_seconds,
        promotion_idle_factor=args.promotion_idle_factor,
        promotion_soak_check_seconds=args.promotion_soak_check_seconds,
        chart_unreferenced_seconds=args.chart_unreferenced_seconds,
        chart_after_use_seconds=args.chart_after_use_seconds,
        chart_collect_seconds=args.chart_collect_seconds,
        request_token_floor_seconds=args.request_token_floor_seconds,
        notify_url=args.notify_url or None,
        notify_queue=args.notify_queue,
        notify_timeout_seconds=args.notify_timeout_seconds,
        notify_retries=args.notify_retries,
        pending_approvals_cache_seconds=args.pending_approvals_cache_seconds,
        environment_cache=not args.no_environment_cache,
        rbac_index=not args.no_rbac_index,
        cache_ready_seconds=args.cache_ready_seconds,
    )
    check_serve_identity(settings.issuer, settings.username_prefix, settings.groups_prefix)
    from scipian_backend.ratelimit import parse_rate, route_limiters

    parse_rate(settings.rate_limit, settings.rate_limit_burst)  # a bad value: exit 2 now
    route_limiters(
        None,
        (settings.read_rate_limit, settings.read_rate_limit_burst),
        (settings.write_rate_limit, settings.write_rate_limit_burst),
    )
    parse_rate(settings.ui_login_rate_limit, settings.ui_login_rate_limit_burst)
    _check_promotion_flags(settings)
    if not 0 <= settings.cache_ready_seconds <= 600:
        raise ConfigError("--cache-ready-seconds must be between 0 and 600")
    if not 0.05 <= settings.event_flush_seconds <= 3600:
        raise ConfigError("--event-flush-seconds must be between 0.05 and 3600")
    if settings.helm and not os.access(settings.helm, os.X_OK):
        raise ConfigError(f"--helm {settings.helm} is not an executable file")
    for flag, value in (
        ("--shutdown-unready-seconds", args.shutdown_unready_seconds),
        ("--shutdown-drain-seconds", args.shutdown_drain_seconds),
    ):
        if not 0 <= value <= 300:
            raise ConfigError(f"{flag} must be between 0 and 300 seconds")
    audit_logger()
    backend = build_backend(settings)
    config = uvicorn.Config(
        create_app(backend),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_graceful_shutdown=math.ceil(args.shutdown_drain_seconds),
    )
    DrainingServer(config, args.shutdown_unready_seconds, backend.draining.set).run()
    return 0


def _secret_file(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None


def _check_promotion_flags(s: Settings) -> None:
    if not 1024 <= s.promotion_values_max_bytes < s.promotion_body_max_bytes <= 16 * 2**20:
        raise ConfigError(
            "--promotion-values-max-bytes must be at least 1024 and below "
            "--promotion-body-max-bytes (at most 16 MiB)"
        )
    if not 1 <= s.promotion_render_timeout_seconds <= 600:
        raise ConfigError("--promotion-render-timeout must be between 1 and 600 seconds")
    if not 1 <= s.promotion_diff_cache <= 100_000:
        raise ConfigError("--promotion-diff-cache must be between 1 and 100000")
    if s.promotion_active_per_user < 1 or s.promotion_creations_per_hour < 1:
        raise ConfigError("--promotion-active-per-user and --promotion-creations-per-hour >= 1")
    if not 1 <= s.promotion_watch_seconds <= 300 or s.promotion_watches_per_replica < 0:
        raise ConfigError(
            "--promotion-watch-seconds must be between 1 and 300, "
            "--promotion-watches-per-replica at least 0"
        )


if __name__ == "__main__":
    sys.exit(main())

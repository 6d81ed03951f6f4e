"""`kubectl scipian ENV helm rollback RELEASE [REVISION] --reason TEXT`: the plan from the
redacted history, then the real `helm rollback` with a deploy credential (README.md, docs/api.md).

plan (history through the backend) ── --dry-run: print it on stdout, stop
  └─ helm found and new enough → deploy credential (step-up as needed)
     ├─ → audit "started" → helm rollback (KUBECONFIG = a private file) → audit "finished"
     └─ refused 403 PromotionRequired (a gated environment, change.md §7): a one-step
        promotion `rollbackTo` (with --break-glass: `breakGlass`) that the backend executes
        after the step's approvals (or at once, break-glass); watched as `promote` watches,
        with its exit codes (0 Succeeded, 1 Failed, 3 awaiting approval with --no-wait,
        4 Cancelled, 130 detached)

The plan goes to stderr (stdout is helm's, unchanged) except with --dry-run, where it is
the output. The credential reaches helm only through a 0600 kubeconfig in a fresh 0700
directory named by KUBECONFIG (never argv), removed on success, failure and Ctrl-C.
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple, Protocol

from kubectl_scipian.context import Context
from kubectl_scipian.helm import printers
from kubectl_scipian.helm.runner import find_helm, helm_environ, private_kubeconfig, run_helm

MAX_HISTORY = "100000"  # the backend's bound: all revisions


class Plan(NamedTuple):
    release: str
    namespace: str
    current: int
    current_chart: str
    current_status: str
    target: int
    target_chart: str | None  # None: no such revision in the history (helm will say so)


class History(Protocol):
    def get(self, env_id: str, path: str, query: dict[str, str]) -> dict[str, Any]: ...


def plan_of(
    release: str, namespace: str, items: list[dict[str, Any]], revision: int
) -> Plan | None:
    """The rollback helm will do (pure): from the newest revision to `revision`, or to the
    one before the newest (helm's default, revision 0). None: no such release."""
    versions = [r for r in items if isinstance(r.get("version"), int)]
    if not versions:
        return None
    current = max(versions, key=lambda r: int(r["version"]))
    target = revision or int(current["version"]) - 1
    found = next((r for r in versions if r["version"] == target), None)
    return Plan(
        release,
        namespace,
        int(current["version"]),
        printers.chart_name(current),
        printers.status_of(current),
        target,
        printers.chart_name(found) if found is not None else None,
    )


def plan_text(env_id: str, plan: Plan) -> str:
    from kubectl_scipian.support.untrusted import visible  # chart and status: a record's

    target = plan.target_chart or "not in the release's history"
    return (
        visible(
            f"Rollback plan for release {plan.release!r} in namespace {plan.namespace!r} on "
            f"{env_id}: revision {plan.current} ({plan.current_chart}, {plan.current_status}) "
            f"-> revision {plan.target} ({target})"
        )
        + "\n"
    )


def helm_argv(helm: str, opts: argparse.Namespace, plan: Plan) -> list[str]:
    """The rollback's command line: the planned revision explicitly, so that helm does what
    the audit declares even if a revision was added meanwhile."""
    from kubectl_scipian.support import names

    names.check_revision(plan.target)  # read from the backend's history
    argv = [helm, "rollback", "-n", plan.namespace]
    if opts.wait:
        argv.append("--wait")
    if opts.timeout:
        argv += ["--timeout", opts.timeout]
    return [*argv, "--", plan.release, str(plan.target)]  # after `--`: never read as flags


def run(
    opts: argparse.Namespace,
    env_id: str,
    namespace: str,
    wired: Any,
    history: History,
    ctx: Context,
) -> int:
    from kubectl_scipian.access.credentials import REASON_VAR, check_reason

    reason = None
    helm = ""
    if not opts.dry_run:
        # Both before any backend call: a missing reason or helm costs no credential.
        reason = check_reason(
            opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR)
        )
        helm = find_helm(opts.helm, ctx.environ, "helm rollback")
    path = f"/{namespace}/{opts.release}/history"
    items = history.get(env_id, path, {"max": MAX_HISTORY})["items"]
    plan = plan_of(opts.release, namespace, items, opts.revision)
    if plan is None:
        print("Error: release: not found", file=ctx.stderr)
        return 1
    if plan.target < 1:
        print(f"Error: release {plan.release!r} has no revision before 1", file=ctx.stderr)
        return 1
    if opts.dry_run:
        ctx.stdout.write(plan_text(env_id, plan))
        return 0
    ctx.stderr.write(plan_text(env_id, plan))
    ctx.stderr.flush()
    assert reason is not None
    from kubectl_scipian.errors import PromotionRequired

    try:
        item = wired.credentials.deploy_kubeconfig(env_id, reason, interactive=ctx.interactive)
    except PromotionRequired:
        return promoted(opts, env_id, plan, reason, wired, ctx)
    report = {
        "justification": reason,
        "fromRevision": plan.current,
        "toRevision": plan.target,
    }
    # Audited before helm runs: a refused record stops the rollback.
    _report(wired, ctx, env_id, plan, {**report, "phase": "started"})
    with private_kubeconfig(item.kubeconfig) as kubeconfig:
        code = run_helm(helm_argv(helm, opts, plan), helm_environ(ctx.environ, kubeconfig)).code
    try:
        _report(wired, ctx, env_id, plan, {**report, "phase": "finished", "helmExitCode": code})
    except Exception as err:  # helm's exit code stands; the gap in the audit is said
        from kubectl_scipian.errors import ScipianError

        why = str(err) if isinstance(err, ScipianError) else type(err).__name__
        print(
            f"kubectl-scipian: warning: the rollback's audit record failed: {why}", file=ctx.stderr
        )
    return code


def promotion_body(env_id: str, plan: Plan, reason: str, break_glass: bool) -> dict[str, Any]:
    """The create body of a gated rollback (pure): one step, the planned revision."""
    body: dict[str, Any] = {
        "release": plan.release,
        "namespace": plan.namespace,
        "rollbackTo": plan.target,
        "through": [env_id],
        "justification": reason,
    }
    if break_glass:
        body["breakGlass"] = True
    return body


def promoted(
    opts: argparse.Namespace, env_id: str, plan: Plan, reason: str, wired: Any, ctx: Context
) -> int:
    """The rollback as a one-step promotion the backend executes (change.md §7)."""
    from kubectl_scipian.errors import BackendError
    from kubectl_scipian.promotions.api import PROMOTION_ANSWER, Api
    from kubectl_scipian.promotions.flags import PROMOTION_NAME
    from kubectl_scipian.promotions.watch import to_end

    api = Api(wired, ctx)
    promo = api.create(promotion_body(env_id, plan, reason, bool(opts.break_glass)))
    meta = promo.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or len(name) > 63 or not PROMOTION_NAME.fullmatch(name):
        raise BackendError(PROMOTION_ANSWER)  # it goes into URLs and lines: checked first
    how = "at once, break-glass" if opts.break_glass else "after its approvals"
    print(
        f"{env_id} is gated: the rollback to revision {plan.target} is promotion {name}, "
        f"executed by the backend {how}",
        file=ctx.stderr,
        flush=True,
    )
    return to_end(api, promo, ctx, no_wait=bool(getattr(opts, "no_wait", False)))


def _report(
    wired: Any, ctx: Context, env_id: str, plan: Plan, report: dict[str, Any]
) -> dict[str, Any]:
    login = wired.auth.valid_login(interactive=ctx.interactive)
    answer: dict[str, Any] = wired.backend.rollback_report(
        env_id, login.id_token, plan.namespace, plan.release, report
    )
    return answer

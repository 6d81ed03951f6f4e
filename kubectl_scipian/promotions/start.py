"""`kubectl scipian promote`: a new promotion (or `--resume NAME`), run to its end.

flags checked → helm found → chart loaded by helm (version, identity, values digests)
  ├─ --dry-run: each environment's current release beside the target; stop
  └─ create (step-up login) / resume (same identity) → the step loop (steps.py) → summary
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl_scipian.context import Context
from kubectl_scipian.errors import (
    AuthError,
    BackendError,
    EnvNotFound,
    Refused,
    ScipianError,
    ToolMissing,
    UsageError,
)
from kubectl_scipian.promotions import flags, plan
from kubectl_scipian.promotions.api import Api


def run(opts: argparse.Namespace, ctx: Context) -> int:
    from kubectl_scipian import wiring

    if opts.resume:
        return _resume(opts, ctx, wiring.build(opts, ctx))
    request = flags.request_of(opts)
    reason = None
    if not opts.dry_run:
        from kubectl_scipian.access.credentials import REASON_VAR, check_reason

        reason = check_reason(
            opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR)
        )
    plan.check_chart_path(request.chart)
    helm = _helm(opts, ctx)
    wired = wiring.build(opts, ctx)
    loader = _loader(helm, wired, ctx)
    chart = loader.load(
        request.release, request.namespace, request.chart, request.through[0],
        request.values, request.sets,
    )  # fmt: skip
    plan.check_version(chart, request.version, request.chart)
    for env in request.values_for:  # each environment's values render before anything runs
        loader.load(
            request.release, request.namespace, request.chart, env,
            plan.values_of(request, env), request.sets,
        )  # fmt: skip
    digests = plan.digests(request)
    if opts.dry_run:
        currents = [_current(wired, ctx, env, request) for env in request.through]
        ctx.stdout.write(plan.plan_table(request, chart, currents))
        return 0
    api = Api(wired, ctx)
    body: dict[str, Any] = {
        "release": request.release,
        "namespace": request.namespace,
        "chart": {"name": chart.name, "version": chart.version, "identity": chart.identity},
        "through": request.through,
        "justification": reason,
        "soakSeconds": request.soak_seconds,
        "timeoutSeconds": request.timeout_seconds,
    }
    if digests:
        body["valuesDigests"] = digests
    promo = api.create(body)
    name = str(promo["metadata"]["name"])
    print(
        f"promotion {name}: {chart.name}-{chart.version} to {request.namespace}/"
        f"{request.release} through {','.join(request.through)}",
        file=ctx.stderr,
        flush=True,
    )
    return _chain(api, promo, opts, ctx, helm, loader, request.values, request.values_for)


def _resume(opts: argparse.Namespace, ctx: Context, wired: Any) -> int:
    given = flags.resume_conflicts(opts)
    if given:
        raise UsageError(
            f"--resume takes the promotion's own {', '.join(given)}; pass only --chart "
            "(and the same --values/--values-for/--set)"
        )
    if not opts.chart:
        raise UsageError("--resume needs --chart CHART again (the same chart)")
    plan.check_chart_path(opts.chart)
    helm = _helm(opts, ctx)
    api = Api(wired, ctx)
    promo = api.get(opts.resume)
    spec = promo["spec"]
    _check_names(spec)
    through = [str(e) for e in spec.get("through") or []]
    values_for = flags.values_for_of(opts.values_for, through)
    loader = _loader(helm, wired, ctx)
    chart = loader.load(
        spec["release"], spec["namespace"], opts.chart, through[0], opts.values, opts.set
    )
    expected = (spec.get("chart") or {}).get("identity")
    if chart.identity != expected:
        raise Refused(
            f"chart identity differs from the promotion's: {opts.chart} is {chart.identity}, "
            f"promotion {opts.resume} is {expected}"
        )
    recorded = spec.get("valuesDigests") or {}
    request = flags.Request(
        spec["release"], spec["namespace"], opts.chart, chart.version, through,
        list(opts.values), values_for, list(opts.set), 0, 0,
    )  # fmt: skip
    now = plan.digests(request)
    differ = [env for env in through if recorded.get(env) != now.get(env)]
    if differ:
        raise Refused(
            f"the values of {', '.join(differ)} differ from the promotion's; pass the same "
            "--values, --values-for and --set as when it started"
        )
    promo = api.resume(opts.resume, chart.identity)
    return _chain(api, promo, opts, ctx, helm, loader, list(opts.values), values_for)


def _check_names(spec: dict[str, Any]) -> None:
    """The names a Promotion from the backend gives helm, URLs and files: checked first."""
    from kubectl_scipian.support import names

    names.check_release(spec.get("release"))
    names.check_namespace(spec.get("namespace"))
    through = spec.get("through")
    if not isinstance(through, list) or not through:
        raise BackendError("the Scipian backend sent a promotion without a chain")
    for env in through:
        names.check_env(env)


def _chain(
    api: Api,
    promo: dict[str, Any],
    opts: argparse.Namespace,
    ctx: Context,
    helm: str,
    loader: plan.Loader,
    values: list[str],
    values_for: dict[str, list[str]],
) -> int:
    from kubectl_scipian.promotions import printers, steps
    from kubectl_scipian.promotions.progress import Progress

    spec = promo["spec"]
    _check_names(spec)
    expected = spec["chart"]["identity"]
    name = str(promo["metadata"]["name"])

    def check_identity(env: str) -> None:
        chart = loader.load(
            spec["release"], spec["namespace"], opts.chart, env,
            [*values, *values_for.get(env, [])], opts.set,
        )  # fmt: skip
        if chart.identity != expected:
            raise Refused(
                f"the chart at {opts.chart} changed: its identity is {chart.identity}, "
                f"promotion {name} installs {expected}"
            )

    chain = steps.Chain(
        chart=opts.chart,
        helm=helm,
        values=lambda env: [*values, *values_for.get(env, [])],
        sets=list(opts.set),
        no_wait=opts.no_wait,
        check_identity=check_identity,
        run_helm=lambda argv, kubeconfig: _run_helm(argv, kubeconfig, ctx),
    )
    progress = Progress(ctx.stderr, _is_terminal(ctx.stderr))
    try:
        ended, code = steps.Runner(api, chain, progress, ctx.stderr).run(promo)
    except ScipianError as err:
        from kubectl_scipian import cli

        progress.say(cli.error_text(err))
        progress.say(steps.resume_line(name, opts.chart))
        return err.exit_code
    progress.finish()
    if ended is None:  # the backend is gone or we were interrupted: no state to claim
        return code
    ctx.stdout.write(printers.summary_table(ended))
    status = ended.get("status") or {}
    if code == 1 and status.get("phase") == "Failed":
        why = printers.one_line(status.get("message", ""))
        print(f"error: promotion {name} failed: {why}", file=ctx.stderr)
    return code


def _run_helm(argv: list[str], kubeconfig: str, ctx: Context) -> tuple[int, str, bool]:
    import tempfile
    from pathlib import Path

    from kubectl_scipian.helm.runner import helm_environ, run_helm

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = run_helm(argv, helm_environ(ctx.environ, Path(kubeconfig)), stdout=out, stderr=err)
        err.seek(0)
        text = err.read()
    lines = [x for x in text.splitlines() if x.strip() and "deprecated" not in x]
    return done.code, (lines[-1].strip() if lines else ""), done.interrupted


def _helm(opts: argparse.Namespace, ctx: Context) -> str:
    from kubectl_scipian.helm.runner import find_helm

    try:
        return find_helm(opts.helm, ctx.environ, "promote")
    except ToolMissing as err:
        raise UsageError(str(err)) from None


def _loader(helm: str, wired: Any, ctx: Context) -> plan.Loader:
    def read_kubeconfig(env: str) -> str:
        text: str = wired.credentials.kubeconfig(env, interactive=ctx.interactive).kubeconfig
        return text

    return plan.Loader(helm, ctx.environ, read_kubeconfig)


def _current(wired: Any, ctx: Context, env: str, request: flags.Request) -> plan.Current:
    from kubectl_scipian import cli

    try:
        login = wired.auth.valid_login(interactive=ctx.interactive)
        path = f"/{request.namespace}/{request.release}/history"
        body = wired.backend.releases(env, login.id_token, path, {"max": "1"})
    except (AuthError, EnvNotFound) as err:
        return plan.Current(env, "", None, "", cli.error_text(err))
    items = body.get("items")
    return plan.current_of(env, items if isinstance(items, list) else [])


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

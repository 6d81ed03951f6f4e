"""`kubectl scipian promote`: upload the chart, create the promotion, watch it to its end.
The backend executes every step (change.md §5); the plugin runs helm only to package a
chart directory.

flags checked → values read → archive (a .tgz read, or a directory packaged by `helm
package`) → version checked
  ├─ --dry-run (.tgz only): the plan and the digests; nothing is uploaded
  └─ PUT the archive → POST the promotion (step-up login) → watch (watch.py)
"""

from __future__ import annotations

import argparse
from typing import Any

from kubectl_scipian.context import Context
from kubectl_scipian.errors import ToolMissing, UsageError
from kubectl_scipian.promotions import archive, flags, inputs
from kubectl_scipian.promotions.flags import EXIT_BAD_INPUT

RESUME_RETIRED = (
    "error: --resume is retired: promotions are executed by the backend; "
    "watch one with: kubectl scipian promotions {name} --watch"
)


def run(opts: argparse.Namespace, ctx: Context) -> int:
    if opts.resume is not None:
        name = opts.resume if flags.PROMOTION_NAME.fullmatch(opts.resume or "") else "NAME"
        print(RESUME_RETIRED.format(name=name[:63]), file=ctx.stderr)
        return EXIT_BAD_INPUT
    request = flags.request_of(opts)
    reason = None
    if not opts.dry_run:
        from kubectl_scipian.access.credentials import REASON_VAR, check_reason

        reason = check_reason(
            opts.reason if opts.reason is not None else ctx.environ.get(REASON_VAR)
        )
    archive.check_chart_path(request.chart)
    if opts.dry_run and not archive.is_archive(request.chart):
        raise UsageError(
            f"--dry-run takes a packaged chart (.tgz), not the directory {request.chart}: "
            "run `helm package` on it first"
        )
    given = inputs.inputs_of(request)
    parts = inputs.body_parts(given)
    chart = _archive(request.chart, opts, ctx)
    if request.version and chart.version != request.version:
        raise UsageError(
            f"--version {request.version} does not match the chart's version {chart.version} "
            f"({request.chart}, Chart.yaml)"
        )
    if opts.dry_run:
        ctx.stdout.write(plan_text(request, chart, inputs.digests(given, request.through)))
        return 0
    from kubectl_scipian import wiring
    from kubectl_scipian.promotions.api import Api
    from kubectl_scipian.promotions.watch import checked_name, to_end

    api = Api(wiring.build(opts, ctx), ctx)
    api.upload(chart.digest, request.through, chart.data)
    body: dict[str, Any] = {
        "release": request.release,
        "namespace": request.namespace,
        "chart": {"digest": chart.digest, "name": chart.name, "version": chart.version},
        "through": request.through,
        "justification": reason,
        "soakSeconds": request.soak_seconds,
        "timeoutSeconds": request.timeout_seconds,
        **parts,
    }
    promo = api.create(body)
    name = checked_name(promo)
    print(
        f"promotion {name}: {chart.name}-{chart.version} to {request.namespace}/"
        f"{request.release} through {','.join(request.through)}",
        file=ctx.stderr,
        flush=True,
    )
    return to_end(api, promo, ctx, no_wait=opts.no_wait)


def _archive(chart: str, opts: argparse.Namespace, ctx: Context) -> archive.Archive:
    if archive.is_archive(chart):
        return archive.read_archive(chart)
    from kubectl_scipian.helm.runner import find_helm

    try:
        helm = find_helm(opts.helm, ctx.environ, "promote of a chart directory")
    except ToolMissing as err:
        raise UsageError(str(err)) from None
    return archive.package(helm, chart, ctx.environ)


def plan_text(request: flags.Request, chart: archive.Archive, digests: dict[str, str]) -> str:
    """--dry-run's plan (pure): what would be uploaded and created, with its digests."""
    from kubectl_scipian.promotions.printers import table

    head = (
        f"Promotion plan for release {request.release!r} in namespace {request.namespace!r}: "
        f"chart {chart.name}-{chart.version} through {' -> '.join(request.through)}\n"
        f"archive: {chart.digest} ({len(chart.data)} bytes)\n"
        f"soak: {request.soak_seconds}s, timeout: {request.timeout_seconds}s per step\n"
    )
    rows = [[env, digests.get(env, "")] for env in request.through]
    return head + table(["ENV", "VALUES DIGEST"], rows)

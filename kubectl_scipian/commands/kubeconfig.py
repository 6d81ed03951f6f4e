"""`kubectl scipian ENV kubeconfig [--output FILE | --merge] [--level deploy --reason TEXT]`:
a kubeconfig for other tools. The deploy level's entries are named `ENV-deploy`.

Its user is an exec credential (`kubectl-scipian --env ENV credential`), so the file holds
no token and never goes stale (kubectl_scipian.exec.kubeconfig). Standard output by default;
`--output FILE` writes a new 0600 file atomically; `--merge` adds or updates only our entries
in $KUBECONFIG's first file (else ~/.kube/config). ~/.kube/config is touched only with --merge.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kubectl_scipian import config, wiring
from kubectl_scipian.backend import issued
from kubectl_scipian.commands.credential import deploy_reason
from kubectl_scipian.context import Context
from kubectl_scipian.exec.kubeconfig import dump, exec_kubeconfig, merge_into, merge_target, write


def run(args: argparse.Namespace, ctx: Context) -> int:
    reason = deploy_reason(args, ctx.environ)
    wired = wiring.build(args, ctx)
    if reason is not None:
        # Asked now, once: a missing grant or a stale login shows here, not in kubectl later.
        item = wired.credentials.deploy_kubeconfig(args.env_id, reason, interactive=ctx.interactive)
    else:
        item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
    cluster, _ = issued.current_entries(issued.document(item.kubeconfig))
    verify = wired.config.verify
    ours = exec_kubeconfig(
        args.env_id,
        cluster,
        backend_url=wired.config.backend_url,
        certificate_authority=str(Path(verify).resolve()) if isinstance(verify, str) else None,
        config_dir=ctx.environ.get(config.CONFIG_DIR_VAR) or None,
        reason=reason,
    )
    if args.merge:
        target = merge_target(ctx.environ)
        merge_into(target, ours)
        context = ours["current-context"]
        print(
            f"Merged context {context!r} into {target} (previous file kept as "
            f"{target.name}.bak); use it with: kubectl --context {context} get pods",
            file=ctx.stderr,
        )
    elif args.output:
        write(Path(args.output).expanduser(), dump(ours))
        print(
            f"Wrote {args.output}; use it with: kubectl --kubeconfig {args.output} get pods",
            file=ctx.stderr,
        )
    else:
        ctx.stdout.write(dump(ours))
    return 0

"""`kubectl scipian ENV kubeconfig [--output FILE | --merge]`: a kubeconfig for other tools.

Its user is an exec credential (`kubectl-scipian --env ENV credential`), so the file holds
no token and never goes stale. Standard output by default; `--output FILE` writes a new
0600 file atomically; `--merge` adds or updates only our entries in $KUBECONFIG's first
file (else ~/.kube/config), under a lock, keeping the previous file as FILE.bak.
~/.kube/config is touched only with --merge.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian import app, config, execcred
from kubectl_scipian.cache import replace_atomically
from kubectl_scipian.commands.env import parse_kubeconfig
from kubectl_scipian.context import Context
from kubectl_scipian.errors import ConfigError


def run(args: argparse.Namespace, ctx: Context) -> int:
    wired = app.build(args, ctx)
    item = wired.credentials.kubeconfig(args.env_id, interactive=ctx.interactive)
    cluster, _ = execcred.current_entries(parse_kubeconfig(item))
    verify = wired.config.verify
    ours = execcred.exec_kubeconfig(
        args.env_id,
        cluster,
        backend_url=wired.config.backend_url,
        certificate_authority=str(Path(verify).resolve()) if isinstance(verify, str) else None,
        config_dir=ctx.environ.get(config.CONFIG_DIR_VAR) or None,
    )
    if args.merge:
        target = merge_target(ctx.environ)
        merge_into(target, ours)
        print(
            f"Merged context {args.env_id!r} into {target} (previous file kept as "
            f"{target.name}.bak); use it with: kubectl --context {args.env_id} get pods",
            file=ctx.stderr,
        )
    elif args.output:
        write_atomic(Path(args.output).expanduser(), dump(ours))
        print(
            f"Wrote {args.output}; use it with: kubectl --kubeconfig {args.output} get pods",
            file=ctx.stderr,
        )
    else:
        ctx.stdout.write(dump(ours))
    return 0


def dump(doc: Mapping[str, Any]) -> str:
    import yaml  # comes with the kubernetes client

    return str(yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False))


def merge_target(environ: Mapping[str, str]) -> Path:
    """kubectl's rule: the first file of $KUBECONFIG, else ~/.kube/config."""
    for part in (environ.get("KUBECONFIG") or "").split(os.pathsep):
        if part:
            return Path(part).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".kube" / "config"


def merge_into(target: Path, ours: Mapping[str, Any]) -> None:
    import yaml

    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _dir_lock(target.parent):
        existing: Any = None
        if target.exists():
            try:
                existing = yaml.safe_load(target.read_text())
            except (OSError, yaml.YAMLError) as err:
                # The mark only: the file may hold tokens of other tools.
                raise ConfigError(f"cannot read {target} ({type(err).__name__})") from None
            if existing is not None and not isinstance(existing, dict):
                raise ConfigError(f"{target} is not a kubeconfig")
        merged = execcred.merge(existing, ours)
        if target.exists():
            backup = target.with_name(target.name + ".bak")
            shutil.copy2(target, backup)
            os.chmod(backup, 0o600)
        write_atomic(target, dump(merged))


def write_atomic(path: Path, text: str) -> None:
    """Atomic and 0600, like the cache's files; an unwritable place is one clear line."""
    try:
        replace_atomically(path, text)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or type(err).__name__}") from None


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    # flock on the directory itself: two merges at once must not lose an entry, and no
    # lock file is left beside the user's kubeconfig.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

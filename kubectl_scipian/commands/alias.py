"""`kubectl scipian alias`: one `alias kdev='kubectl-scipian dev'` line per environment you may use.

    eval "$(kubectl scipian alias)"      # bash, zsh; fish: kubectl scipian alias | source

The aliases run the plugin's executable itself, not `kubectl scipian`: kubectl's own
start-up before it execs a plugin is ~35 ms of every command (make bench), and the
executable is on PATH wherever kubectl finds the plugin. The completion scripts complete
both forms.

The list is the backend's when a login is usable (refreshed silently, never prompting);
otherwise the environments of the plugin's cache, with a note on stderr.
"""

from __future__ import annotations

import argparse
import re

from kubectl_scipian import errors, wiring
from kubectl_scipian.access.credentials import valid_env_id
from kubectl_scipian.commands.completion import Sources
from kubectl_scipian.context import Context

PREFIX = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not PREFIX.fullmatch(args.prefix):
        raise errors.ConfigError(f"--prefix {args.prefix!r}: letters, digits, - and _ only")
    try:
        wired = wiring.build(args, ctx)
        login = wired.auth.valid_login(interactive=False)
        env_ids = [env.id for env in wired.backend.environments(login.id_token)]
    except (errors.AuthError, errors.BackendError) as err:
        env_ids = Sources(ctx.environ).from_cache()
        if not env_ids:
            raise
        print(f"# from the plugin's cache ({err})", file=ctx.stderr)
    env_ids = [e for e in env_ids if valid_env_id(e)]  # nothing else goes into a shell
    for env_id in env_ids:
        print(f"alias {args.prefix}{env_id}='kubectl-scipian {env_id}'", file=ctx.stdout)
    if not env_ids:
        print("# no environments: ask for access to one", file=ctx.stderr)
    return 0

"""`kubectl scipian`: parse, dispatch, and the ONE place where errors become text and exit codes.

Commands live in `kubectl_scipian.commands.<name>` and are imported only when chosen, so
`version`, `-h` and `envs` never pay for the `kubernetes` package.
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from kubectl_scipian import errors
from kubectl_scipian.commands import MANY_ENV_READ, ONE_ENV_READ, PER_ENV, READ_VERBS, TOP
from kubectl_scipian.context import Context

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

PROG = "kubectl scipian"
COMMANDS = tuple(TOP)
VERBS = READ_VERBS
ENV_COMMANDS = tuple(PER_ENV)  # commands of one environment, not read verbs
USAGE = (
    f"{PROG} [options] ENV get|describe|logs [ARGS...]\n"
    f"       {PROG} [options] --env ENV get|describe|logs [ARGS...]\n"
    f"       {PROG} [options] ENV,ENV...|@GROUP get|describe|logs [ARGS...]\n"
    f"       {PROG} [options] ENV credential | kubeconfig [--output FILE | --merge]\n"
    f"             [--level deploy --reason TEXT]\n"
    f"       {PROG} [options] ENV request read|deploy --for DURATION --reason TEXT [--wait]\n"
    f"       {PROG} [options] login|logout|whoami|envs|version [ARGS...]"
)
EPILOG = (
    "commands:\n"
    "  ENV get|describe|logs ...   read from environment ENV"
    " (kubectl's flags: -n, -A, -l, -o, ...)\n"
    "  dev,prod|@GROUP get ...     read from several environments (@all: every one you may use)\n"
    + "".join(f"  {c.synopsis:<28}{c.summary}\n" for c in (*PER_ENV.values(), *TOP.values()))
    + """
An environment named like a command stays reachable with --env (e.g. --env login get pods).

examples:
  kubectl scipian login
  kubectl scipian dev get pods -A
  kubectl scipian dev,prod get pods -A
  kubectl scipian dev kubeconfig --merge && kubectl --context dev get pods
  kubectl scipian dev kubeconfig --level deploy --reason "hotfix 123" --merge
  kubectl scipian prod logs deploy/web -n shop --tail 20
  kubectl scipian prod request deploy --for 2h --reason "incident 42" --wait
"""
)


class _Done(Exception):
    """argparse finished on its own (-h): nothing left to run."""

    def __init__(self, status: int) -> None:
        self.status = status


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() finds it, without importing shutil
    (argparse makes a formatter on every add_argument: ~2.5 ms of every start)."""
    try:
        return int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(1).columns
    except (ValueError, OSError):
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("width", _columns() - 2)
        super().__init__(prog, **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse that writes to the context's streams and raises instead of exiting."""

    def __init__(self, *args: object, out: TextIO, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.out = out

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(file or self.out)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _Done(status)

    def error(self, message: str) -> NoReturn:
        raise errors.ArgumentError(f"{self.format_usage().rstrip()}\n{self.prog}: error: {message}")


def build_parser(out: TextIO) -> Parser:
    parser = Parser(
        prog=PROG,
        usage=USAGE,
        description="Short-lived, audited access to the Kubernetes environments Scipian created.",
        epilog=EPILOG,
        out=out,
    )
    add_global_options(parser)
    parser.add_argument("--env", metavar="ENV", help="the environment (when named like a command)")
    parser.add_argument(
        "-n", "--namespace", metavar="NS", help="namespace, passed on to get/describe/logs"
    )
    parser.add_argument("command", nargs="?", metavar="ENV|COMMAND", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", metavar="URL", help="Scipian backend (or SCIPIAN_BACKEND_URL)")
    parser.add_argument(
        "--certificate-authority", metavar="FILE", help="CA bundle to verify the backend with"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="debug output on stderr (no secrets)"
    )


def sub_parser(name: str, help: str, out: TextIO) -> Parser:
    parser = Parser(prog=f"{PROG} {name}", description=help, out=out)
    add_global_options(parser)
    return parser


# Options of ours that may also follow the verb (kubectl accepts global flags anywhere).
_VALUE_OPTIONS = ("--backend", "--certificate-authority")


def split_own_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our options, the rest) from the arguments after an env's verb, up to a `--`."""
    ours: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        if arg in ("-v", "--verbose", "-vv") or arg.startswith(("-v=", "--v=")):
            ours.append("-v")
        elif arg in _VALUE_OPTIONS and i + 1 < len(argv):
            ours += [arg, argv[i + 1]]
            i += 1
        elif arg.startswith(tuple(f"{o}=" for o in _VALUE_OPTIONS)):
            ours.append(arg)
        else:
            rest.append(arg)
        i += 1
    return ours, rest


def parse(argv: list[str], out: TextIO) -> argparse.Namespace:
    """The top level; sets `command` to a command name or "env" (with env_id, verb, args)."""
    parser = build_parser(out)
    top = parser.parse_args(argv)
    if top.env is not None:
        env_id, verb, rest = top.env, top.command, top.args
    elif top.command in COMMANDS:
        return _parse_command(top, out)
    elif top.command is None:
        parser.print_help()
        raise _Done(0)
    else:
        env_id = top.command
        verb = top.args[0] if top.args else None
        rest = top.args[1:]
    if verb in ("-h", "--help"):
        parser.print_help()
        raise _Done(0)
    if verb in ENV_COMMANDS:
        if verb == "helm":  # ours first; helm's flags (kubectl_scipian.helm.flags) after
            ours, rest = split_own_options(rest)
            rest = [*ours, *rest]
        return _parse_env_command(top, env_id, verb, rest, out)
    if verb not in VERBS:
        hint = f" (for an environment named {env_id!r} use --env {env_id})" if verb else ""
        parser.error(
            "expected get, describe or logs (or credential, kubeconfig) after the environment"
            + hint
        )
    ours, rest = split_own_options(rest)
    extra = sub_parser("ENV", "", out).parse_args(ours)
    top.backend = extra.backend or top.backend
    top.certificate_authority = extra.certificate_authority or top.certificate_authority
    top.verbose += extra.verbose
    if top.namespace:
        rest = ["-n", top.namespace, *rest]
    # Several environments (`dev,prod`, `@group`) go to their own command.
    command = MANY_ENV_READ if "," in env_id or env_id.startswith("@") else ONE_ENV_READ
    top.command, top.env_id, top.verb, top.args = command, env_id, verb, rest
    return top


def _parse_env_command(
    top: argparse.Namespace, env_id: str, name: str, rest: list[str], out: TextIO
) -> argparse.Namespace:
    parser = sub_parser(f"ENV {name}", PER_ENV[name].description, out)
    if name == "kubeconfig":
        where = parser.add_mutually_exclusive_group()
        where.add_argument("-o", "--output", metavar="FILE", help="write to FILE (0600)")
        where.add_argument(
            "--merge",
            action="store_true",
            help="add or update this environment's entries in $KUBECONFIG or ~/.kube/config",
        )
    if name in ("kubeconfig", "credential"):
        parser.add_argument(
            "--level",
            choices=("read", "deploy"),
            default="read",
            help="read (default), or deploy: a stronger credential after a fresh login",
        )
        parser.add_argument(
            "--reason",
            metavar="TEXT",
            help="why you need a deploy credential (audited; or SCIPIAN_REASON)",
        )
    if name == "ack-break-glass":
        parser.add_argument("id", metavar="ID", help="the break-glass (its Event names it)")
        parser.add_argument("--reason", metavar="TEXT", help="why (audited; or SCIPIAN_REASON)")
    if name == "request":
        from kubectl_scipian.accessrequests import flags

        flags.add(name, parser)
    if name == "helm":
        from kubectl_scipian.helm.flags import SUBCOMMANDS

        parser.add_argument(
            "helm_command", choices=sorted(SUBCOMMANDS), metavar="list|history|status|rollback"
        )
        parser.add_argument("helm_args", nargs=argparse.REMAINDER, help="helm's flags")
    sub = parser.parse_args(rest)
    if name == "helm":
        sub.namespace = top.namespace  # `kubectl scipian -n NS dev helm list`
    elif "," in env_id or env_id.startswith("@"):
        parser.error(f"{name} takes one environment, not {env_id!r}")
    if name == "request" and top.namespace:
        sub.namespaces = [top.namespace, *sub.namespaces]  # `kubectl scipian -n NS dev request`
    sub.command, sub.env_id = name, env_id
    sub.backend = sub.backend or top.backend
    sub.certificate_authority = sub.certificate_authority or top.certificate_authority
    sub.verbose += top.verbose
    return sub


def _parse_command(top: argparse.Namespace, out: TextIO) -> argparse.Namespace:
    name = top.command
    parser = sub_parser(name, TOP[name].description, out)
    if name == "login":
        parser.add_argument(
            "--device-code", action="store_true", help="use the device authorization grant"
        )
        parser.add_argument(
            "--no-browser", action="store_true", help="print the URL instead of opening a browser"
        )
        parser.add_argument("--timeout", type=float, default=180.0, help="seconds (default 180)")
    elif name == "completion":
        parser.add_argument("shell", choices=("bash", "zsh", "fish", "__complete"))
        parser.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    elif name == "alias":
        parser.add_argument("--prefix", default="k", help="alias name prefix (default k)")
    elif name == "logout":
        which = parser.add_mutually_exclusive_group()
        which.add_argument("env_id", nargs="?", metavar="ENV", help="forget only ENV's credential")
        which.add_argument("--all", action="store_true", help="forget every login and credential")
    elif name in ("promote", "promotions", "approve", "cancel"):
        from kubectl_scipian.promotions import flags

        flags.add(name, parser)
    elif name in ("requests", "approve-request", "deny-request", "revoke-request"):
        from kubectl_scipian.accessrequests import flags as request_flags

        request_flags.add(name, parser)
    sub = parser.parse_args(top.args)
    if name == "promote":
        sub.namespace = sub.namespace or top.namespace  # `kubectl scipian -n NS promote ...`
    sub.command = name
    sub.backend = sub.backend or top.backend
    sub.certificate_authority = sub.certificate_authority or top.certificate_authority
    sub.verbose += top.verbose
    return sub


def run(argv: list[str], ctx: Context | None = None) -> int:
    ctx = ctx or Context.from_process()
    verbose = 0
    try:
        args = parse(argv, ctx.stdout)
        verbose = args.verbose
        _debug_logging(ctx.stderr, verbose)
        module = importlib.import_module(
            f"kubectl_scipian.commands.{args.command.replace('-', '_')}"
        )
        status: int = module.run(args, ctx)
        return status
    except _Done as done:
        return done.status
    except errors.ScipianError as err:
        return report(err, ctx.stderr, verbose)
    except KeyboardInterrupt:
        print("", file=ctx.stderr)
        return 130
    except BrokenPipeError:
        return 141  # `| head`: not an error worth a message
    except Exception as err:  # a bug: one line, the stack only with -v (no message: secrets)
        print(f"error: internal error ({type(err).__name__}); rerun with -v", file=ctx.stderr)
        if verbose:
            import traceback  # only here: every invocation pays for what cli imports

            print("".join(traceback.format_tb(err.__traceback__)), file=ctx.stderr)
        return 1


def report(err: errors.ScipianError, stderr: TextIO, verbose: int) -> int:
    detail = getattr(err, "detail", "")
    if verbose and detail:
        print(f"kubectl-scipian: debug: {detail}", file=stderr)
    print(error_text(err), file=stderr)
    if isinstance(err, errors.AuthError) and err.hint:
        print(f"hint: {err.hint}", file=stderr)
    return err.exit_code


def error_text(err: errors.ScipianError) -> str:
    """The line an error is shown as: here for one environment, and per environment (as
    `<env>: <line>`) when several are read (kubectl_scipian.fanout)."""
    if isinstance(
        err,
        (errors.AuthError, errors.EnvNotFound, errors.ClusterUnauthorized, errors.ServerRefused),
    ):
        return str(err)  # the RFC's exact words / kubectl's own
    if isinstance(err, errors.ArgumentError):
        return str(err)  # argparse's usage and message, already in its words
    return f"error: {err}"


def _debug_logging(stderr: TextIO, verbose: int) -> None:
    if not verbose:
        return
    import logging  # only with -v: start-up is paid by every invocation

    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("kubectl-scipian: debug: %(message)s"))
    logger = logging.getLogger("kubectl_scipian")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

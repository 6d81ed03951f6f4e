"""`kubectl scipian ENV helm rollback RELEASE [REVISION] --reason TEXT`: the plan from the
redacted history, then the real `helm rollback` with a deploy credential (README.md, docs/api.md).

plan (history through the backend) ── --dry-run: print it on stdout, stop
  └─ helm found and new enough → deploy credential (step-up as needed)
     → audit "started" → helm rollback (KUBECONFIG = a private file) → audit "finished"

The plan goes to stderr (stdout is helm's, unchanged) except with --dry-run, where it is
the output. The credential reaches helm only through a 0600 kubeconfig in a fresh 0700
directory named by KUBECONFIG (never argv), removed on success, failure and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from kubectl_scipian.context import Context
from kubectl_scipian.errors import ToolMissing
from kubectl_scipian.helm import printers

# The oldest helm the tests run (Helm 3 of the stack); Helm 4 is the current major.
MIN_HELM = (3, 22)
VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")
MAX_HISTORY = "100000"  # the backend's bound: all revisions
# Helm's connection settings from the environment would override the private kubeconfig.
HELM_CONNECTION_VARS = (
    "HELM_KUBECONTEXT",
    "HELM_KUBETOKEN",
    "HELM_KUBEAPISERVER",
    "HELM_KUBECAFILE",
    "HELM_KUBEASUSER",
    "HELM_KUBEASGROUPS",
    "HELM_KUBEINSECURE_SKIP_TLS_VERIFY",
    "HELM_KUBETLS_SERVER_NAME",
    "HELM_NAMESPACE",
)


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
    target = plan.target_chart or "not in the release's history"
    return (
        f"Rollback plan for release {plan.release!r} in namespace {plan.namespace!r} on "
        f"{env_id}: revision {plan.current} ({plan.current_chart}, {plan.current_status}) "
        f"-> revision {plan.target} ({target})\n"
    )


def parse_version(text: str) -> tuple[int, int] | None:
    m = VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def helm_argv(helm: str, opts: argparse.Namespace, plan: Plan) -> list[str]:
    """The rollback's command line: the planned revision explicitly, so that helm does what
    the audit declares even if a revision was added meanwhile."""
    argv = [helm, "rollback", plan.release, str(plan.target), "-n", plan.namespace]
    if opts.wait:
        argv.append("--wait")
    if opts.timeout:
        argv += ["--timeout", opts.timeout]
    return argv


def helm_environ(environ: Mapping[str, str], kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in HELM_CONNECTION_VARS}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def find_helm(opts: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The helm to run (--helm, else helm on PATH), checked new enough, or one clear line."""
    import shutil

    helm = opts.helm or shutil.which("helm", path=environ.get("PATH"))
    if not helm or not os.access(helm, os.X_OK) or os.path.isdir(helm):
        where = f"{opts.helm!r} is not an executable" if opts.helm else "no helm on PATH"
        raise ToolMissing(f"helm rollback needs helm {_min()} or newer: {where} (or pass --helm)")
    try:
        done = subprocess.run(
            [helm, "version", "--template", "{{.Version}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=dict(environ),
        )
    except (OSError, subprocess.TimeoutExpired):
        raise ToolMissing(
            f"helm rollback needs helm {_min()} or newer: {helm} did not run"
        ) from None
    found = parse_version(done.stdout) if done.returncode == 0 else None
    if found is None or found < MIN_HELM:
        shown = done.stdout.strip()[:40] or "no version"
        raise ToolMissing(f"helm rollback needs helm {_min()} or newer; {helm} is {shown}")
    return helm


def _min() -> str:
    return f"v{MIN_HELM[0]}.{MIN_HELM[1]}"


@contextlib.contextmanager
def private_kubeconfig(text: str) -> Iterator[Path]:
    """A 0600 kubeconfig in a fresh 0700 directory, removed (with the directory) however the
    block ends."""
    import tempfile

    from kubectl_scipian.support import files

    directory = Path(tempfile.mkdtemp(prefix="kubectl-scipian-helm-"))
    path = directory / "kubeconfig"
    try:
        files.ensure_private_dir(directory)
        files.write_private(path, text)
        yield path
    finally:
        files.remove(path)
        with contextlib.suppress(OSError):
            directory.rmdir()


def run_helm(argv: list[str], env: dict[str, str]) -> int:
    """helm with our stdin/stdout/stderr; SIGINT and SIGTERM are forwarded to it and we wait
    for it to end. Its exit code, or 128+N when a signal ended it."""
    proc = subprocess.Popen(argv, env=env)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code < 0:
        return 128 - code
    return code


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
        helm = find_helm(opts, ctx.environ)
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
    item = wired.credentials.deploy_kubeconfig(env_id, reason, interactive=ctx.interactive)
    report = {
        "justification": reason,
        "fromRevision": plan.current,
        "toRevision": plan.target,
    }
    # Audited before helm runs: a refused record stops the rollback.
    _report(wired, ctx, env_id, plan, {**report, "phase": "started"})
    with private_kubeconfig(item.kubeconfig) as kubeconfig:
        code = run_helm(helm_argv(helm, opts, plan), helm_environ(ctx.environ, kubeconfig))
    try:
        _report(wired, ctx, env_id, plan, {**report, "phase": "finished", "helmExitCode": code})
    except Exception as err:  # helm's exit code stands; the gap in the audit is said
        from kubectl_scipian.errors import ScipianError

        why = str(err) if isinstance(err, ScipianError) else type(err).__name__
        print(
            f"kubectl-scipian: warning: the rollback's audit record failed: {why}", file=ctx.stderr
        )
    return code


def _report(
    wired: Any, ctx: Context, env_id: str, plan: Plan, report: dict[str, Any]
) -> dict[str, Any]:
    login = wired.auth.valid_login(interactive=ctx.interactive)
    answer: dict[str, Any] = wired.backend.rollback_report(
        env_id, login.id_token, plan.namespace, plan.release, report
    )
    return answer

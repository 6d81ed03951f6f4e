"""Running the real helm with a deploy credential: the one way every command does it
(`helm rollback`, `promote`).

The credential reaches helm only through a 0600 kubeconfig in a fresh 0700 directory named
by KUBECONFIG (never argv), removed on success, failure and Ctrl-C; Helm's own connection
variables are dropped so that they cannot point it elsewhere. SIGINT/SIGTERM are forwarded
to helm and we wait for it to end.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, NamedTuple

from kubectl_scipian.errors import ToolMissing

# The oldest helm the tests run (Helm 3 of the stack); Helm 4 is the current major.
MIN_HELM = (3, 22)
VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")
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


class Finished(NamedTuple):
    code: int  # helm's exit code, or 128+N when signal N ended it
    interrupted: bool  # we received SIGINT/SIGTERM (and forwarded it) while it ran


def parse_version(text: str) -> tuple[int, int] | None:
    m = VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def helm_environ(environ: Mapping[str, str], kubeconfig: Path) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in HELM_CONNECTION_VARS}
    env["KUBECONFIG"] = str(kubeconfig)
    return env


def find_helm(given: str | None, environ: Mapping[str, str], purpose: str) -> str:
    """The helm to run (`given` by --helm, else helm on PATH), checked new enough, or one
    clear line naming `purpose` (e.g. "helm rollback")."""
    import shutil

    helm = given or shutil.which("helm", path=environ.get("PATH"))
    if not helm or not os.access(helm, os.X_OK) or os.path.isdir(helm):
        where = f"{given!r} is not an executable" if given else "no helm on PATH"
        raise ToolMissing(f"{purpose} needs helm {_min()} or newer: {where} (or pass --helm)")
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
        raise ToolMissing(f"{purpose} needs helm {_min()} or newer: {helm} did not run") from None
    found = parse_version(done.stdout) if done.returncode == 0 else None
    if found is None or found < MIN_HELM:
        shown = done.stdout.strip()[:40] or "no version"
        raise ToolMissing(f"{purpose} needs helm {_min()} or newer; {helm} is {shown}")
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


def run_helm(
    argv: list[str],
    env: dict[str, str],
    *,
    stdout: IO[str] | int | None = None,
    stderr: IO[str] | int | None = None,
) -> Finished:
    """helm with our streams (or those given); SIGINT and SIGTERM are forwarded to it and
    we wait for it to end."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
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
    return Finished(128 - code if code < 0 else code, bool(received))

"""What a promotion will install: the chart as the user's helm loads it (name, version,
identity), the values files of each environment (digests) and, for --dry-run, each
environment's current release beside the target.

The chart is read by helm itself (`helm install --dry-run=client -o json`: no YAML parser
here, and the identity is computed from exactly what helm will install). Helm 4 needs no
cluster for that; Helm 3 asks the cluster's version first, so if helm cannot reach one,
the dry run is repeated with a read credential of the environment at hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from kubectl_scipian.errors import ScipianError, UsageError
from kubectl_scipian.helm.identity import identity
from kubectl_scipian.promotions.flags import Request

DRY_RUN_TIMEOUT = 120
UNREACHABLE = "Kubernetes cluster unreachable"


class Chart(NamedTuple):
    name: str
    version: str
    identity: str


class ChartError(ScipianError):
    """helm could not load or render the chart: its own last line, exit 2."""

    exit_code = 2


def check_chart_path(chart: str) -> None:
    path = Path(chart)
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise UsageError(f"--chart {chart}: a directory without Chart.yaml")
    elif not path.is_file():
        raise UsageError(f"--chart {chart}: no such chart directory or .tgz file")
    elif not chart.endswith((".tgz", ".tar.gz")):
        raise UsageError(f"--chart {chart}: a chart directory or a .tgz file")


def dry_run_argv(
    helm: str, release: str, namespace: str, chart: str, values: list[str], sets: list[str]
) -> list[str]:
    from kubectl_scipian.support import names

    names.check_release(release)  # given by the user, or by the backend on --resume
    names.check_namespace(namespace)
    argv = [helm, "install", "-n", namespace, "--dry-run=client", "-o", "json"]
    for path in values:
        argv += ["-f", path]
    for item in sets:
        argv += ["--set", item]
    return [*argv, "--", release, chart]  # after `--`: never read as flags


def chart_of(release_json: str) -> Chart:
    """The chart of a dry run's release JSON (pure)."""
    try:
        doc = json.loads(release_json)
        chart = doc["chart"]
        meta = chart["metadata"]
        return Chart(str(meta["name"]), str(meta["version"]), identity(chart))
    except (ValueError, KeyError, TypeError):
        raise ChartError("helm's dry run printed no release with a chart") from None


def last_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else ""


class Loader:
    """Runs helm's dry run; `read_kubeconfig(env)` gives a read kubeconfig (JSON text) of an
    environment for a helm that needs a cluster (Helm 3)."""

    def __init__(
        self,
        helm: str,
        environ: Mapping[str, str],
        read_kubeconfig: Callable[[str], str],
    ) -> None:
        self.helm = helm
        self.environ = environ
        self.read_kubeconfig = read_kubeconfig
        self.needs_cluster = False

    def load(
        self,
        release: str,
        namespace: str,
        chart: str,
        env: str,
        values: list[str] | None = None,
        sets: list[str] | None = None,
    ) -> Chart:
        argv = dry_run_argv(self.helm, release, namespace, chart, values or [], sets or [])
        if not self.needs_cluster:
            done = self._run(argv, os.devnull)
            if done.returncode == 0:
                return chart_of(done.stdout)
            if UNREACHABLE not in done.stderr:
                raise ChartError(f"helm: {last_line(done.stderr) or 'the dry run failed'}")
            self.needs_cluster = True
        from kubectl_scipian.helm.runner import private_kubeconfig

        with private_kubeconfig(self.read_kubeconfig(env)) as path:
            done = self._run(argv, str(path))
        if done.returncode != 0:
            raise ChartError(f"helm: {last_line(done.stderr) or 'the dry run failed'}")
        return chart_of(done.stdout)

    def _run(self, argv: list[str], kubeconfig: str) -> subprocess.CompletedProcess[str]:
        from kubectl_scipian.helm.runner import helm_environ

        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DRY_RUN_TIMEOUT,
            check=False,
            env=helm_environ(self.environ, Path(kubeconfig)),
        )


def check_version(chart: Chart, version: str, path: str) -> None:
    if chart.version != version:
        raise UsageError(
            f"--version {version} does not match the chart's version {chart.version} "
            f"({path}, Chart.yaml)"
        )


def values_of(request: Request, env: str) -> list[str]:
    """The values files of `env`: --values, then its --values-for (helm's last one wins)."""
    return [*request.values, *request.values_for.get(env, [])]


def values_digest(files: list[str], sets: list[str]) -> str:
    """sha256 over each file's sha256 and each --set, in order: recorded, never the values."""
    outer = hashlib.sha256()
    for path in files:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise UsageError(f"values file {path}: {err.strerror or 'unreadable'}") from None
        outer.update(b"f" + hashlib.sha256(data).digest())
    for item in sets:
        outer.update(b"s" + hashlib.sha256(item.encode("utf-8")).digest())
    return "sha256:" + outer.hexdigest()


def digests(request: Request) -> dict[str, str]:
    """Each environment's values digest (an environment with no values and no --set: none)."""
    out: dict[str, str] = {}
    for env in request.through:
        files = values_of(request, env)
        if files or request.sets:
            out[env] = values_digest(files, request.sets)
    return out


# -- --dry-run ---------------------------------------------------------------------------


class Current(NamedTuple):
    env: str
    chart: str  # "shop-web-1.1.0", "" when no release
    revision: int | None
    status: str
    error: str  # the line of an environment that could not be read


def current_of(env: str, items: list[dict[str, Any]]) -> Current:
    """The newest revision of a release history answer (pure)."""
    from kubectl_scipian.helm import printers

    versions = [r for r in items if isinstance(r.get("version"), int)]
    if not versions:
        return Current(env, "", None, "", "")
    newest = max(versions, key=lambda r: int(r["version"]))
    return Current(
        env, printers.chart_name(newest), int(newest["version"]), printers.status_of(newest), ""
    )


def plan_table(request: Request, chart: Chart, currents: list[Current]) -> str:
    """The plan: per environment, what runs now and what the promotion installs."""
    from kubectl_scipian.promotions.printers import table

    target = f"{chart.name}-{chart.version}"
    rows = []
    for c in currents:
        if c.error:
            now = f"({c.error})"
            rev = ""
        elif c.revision is None:
            now, rev = "(not installed)", ""
        else:
            now, rev = f"{c.chart} ({c.status})", str(c.revision)
        rows.append([c.env, rev, now, target])
    head = (
        f"Promotion plan for release {request.release!r} in namespace {request.namespace!r}: "
        f"chart {target} ({chart.identity}) through {' -> '.join(request.through)}\n"
    )
    return head + table(["ENV", "REVISION", "CURRENT", "TARGET"], rows)

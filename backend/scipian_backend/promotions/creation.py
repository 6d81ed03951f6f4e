"""The creation render of a promotion's steps (change.md §5), and the helm arguments the
executor reuses for its `upgrade --dry-run=server`, so that the two renders differ only
where the cluster does.

Each step is rendered with `helm template` in the backend's sandbox: the pinned archive,
that step's values, the target's `--kube-version` and `--api-versions`, `--is-upgrade` only
where the release exists, and no cluster credential. A render that fails, runs out of time,
differs between two runs (`randAlphaNum`, `now`) or a chart whose templates read
`.Release.Revision` is refused: what approvers read and what runs must be the same bytes.
The step's `renderDigest` is of the render's objects (helmrun/render.py).
"""

from __future__ import annotations

import io
import logging
import re
import tarfile
from dataclasses import dataclass

from scipian_backend.helmrun import HelmSandbox, Workspace
from scipian_backend.helmrun.render import RenderError, render_digest, template_args
from scipian_backend.promotions.values import StepInputs

log = logging.getLogger(__name__)

FAILED = "rendering failed"
RENDER_RUNS = 2  # a render is reproducible when two runs agree
# `.Release.Revision` (or the field by name): the revision is only known when helm runs, so
# a render that reads it cannot be approved ahead of time.
REVISION = re.compile(rb"\.Revision\b|\"Revision\"")
MAX_SCANNED = 12 * 1024 * 1024  # bytes of templates read (upload bounds archives at 10 MiB)
MAX_NESTING = 3  # subchart archives inside subchart archives


class RenderRefused(Exception):
    """A classified reason (never helm's own output: a chart can put anything there)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Capabilities:
    """What a render knows of its target: from the target's discovery, never a login."""

    kube_version: str
    api_versions: tuple[str, ...]
    is_upgrade: bool


def write_chart(ws: Workspace, archive: bytes) -> str:
    return ws.write("chart.tgz", archive)


def values_files(ws: Workspace, inputs: StepInputs) -> list[str]:
    """The step's values files written into the workspace, in order (their paths)."""
    return [ws.write(f"values-{i:02d}-{name}", data) for i, (name, data) in enumerate(inputs.files)]


def step_template_args(
    ws: Workspace,
    release: str,
    namespace: str,
    archive: bytes,
    inputs: StepInputs,
    caps: Capabilities,
) -> list[str]:
    """The creation render's `helm template` arguments, its files written into `ws`."""
    return template_args(
        release,
        namespace,
        write_chart(ws, archive),
        kube_version=caps.kube_version,
        api_versions=caps.api_versions,
        is_upgrade=caps.is_upgrade,
        values_files=values_files(ws, inputs),
        sets=inputs.sets,
    )


def uses_revision(archive: bytes) -> bool:
    """Whether any template of the chart or its subcharts reads `.Release.Revision`
    (scanned in memory, bounded; an archive that cannot be read counts as using it)."""
    budget = [MAX_SCANNED]
    try:
        return _scan(archive, 0, budget)
    except (tarfile.TarError, OSError, EOFError):
        return True


def _scan(archive: bytes, depth: int, budget: list[int]) -> bool:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            nested = member.name.endswith(".tgz") and "charts" in parts[:-1]
            if "templates" not in parts[:-1] and not nested:
                continue
            budget[0] -= member.size
            if budget[0] < 0:
                return True
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if nested:
                if depth >= MAX_NESTING or _scan(data, depth + 1, budget):
                    return True
            elif REVISION.search(data):
                return True
    return False


def render_step(
    helm: HelmSandbox,
    release: str,
    namespace: str,
    archive: bytes,
    inputs: StepInputs,
    caps: Capabilities,
    timeout: float,
) -> str:
    """The step's renderDigest, from RENDER_RUNS runs that must agree; RenderRefused."""
    digests = set()
    with helm.workspace() as ws:
        args = step_template_args(ws, release, namespace, archive, inputs, caps)
        for _ in range(RENDER_RUNS):
            done = helm.run(ws, args, timeout=timeout, grace=0)
            if done.reason == "timeout":
                raise RenderRefused(f"{FAILED}: timeout")
            if done.code != 0 or done.reason:
                # helm's own words may carry a looked-up Secret: debug log only.
                log.debug("helm template %s: %s", release, done.stderr[-2000:])
                raise RenderRefused(FAILED)
            try:
                # The whole stream, hooks included: render_digest sorts objects as one set.
                digests.add(render_digest(done.stdout.decode("utf-8", "replace")))
            except RenderError as e:
                raise RenderRefused(f"{FAILED}: {e}") from None
    if len(digests) != 1:
        raise RenderRefused(f"{FAILED}: two renders differ (randomness or time in templates)")
    return digests.pop()

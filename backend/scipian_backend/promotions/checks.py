"""Verification verdicts from objects already read on the target (pure).

The release: its newest record `deployed`, with the promotion's chart identity and
version. Its workloads (found in the record's manifest, which never leaves the backend):
Deployments, StatefulSets and DaemonSets ready, Jobs complete. No pod of them failing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import yaml

from scipian_backend.promotions.records import Verdict
from scipian_backend.releases.identity import chart_identity

WORKLOAD_KINDS = {
    ("apps/v1", "Deployment"): "deployment",
    ("apps/v1", "StatefulSet"): "statefulset",
    ("apps/v1", "DaemonSet"): "daemonset",
    ("batch/v1", "Job"): "job",
}
BAD_WAITING = ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError")


class Workload(NamedTuple):
    kind: str  # deployment | statefulset | daemonset | job
    namespace: str
    name: str


def workloads(manifest: object, namespace: str) -> list[Workload]:
    """The workloads a release's manifest declares (its hooks are not part of it)."""
    if not isinstance(manifest, str):
        return []
    found: list[Workload] = []
    try:
        docs = list(yaml.safe_load_all(manifest))
    except yaml.YAMLError:
        return []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        kind = WORKLOAD_KINDS.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
        meta = doc.get("metadata") or {}
        if kind and isinstance(meta, dict) and meta.get("name"):
            found.append(Workload(kind, str(meta.get("namespace") or namespace), str(meta["name"])))
    return found


def chart_of(release: dict[str, Any]) -> dict[str, Any]:
    chart = release.get("chart")
    return chart if isinstance(chart, dict) else {}


def chart_version(release: dict[str, Any]) -> str:
    meta = chart_of(release).get("metadata")
    return str(meta.get("version", "")) if isinstance(meta, dict) else ""


def release_verdict(release: dict[str, Any] | None, identity: str, version: str) -> Verdict | None:
    """A failing verdict when the newest record is not the promotion's chart, deployed."""
    if release is None:
        return Verdict("failed", "no release record found")
    revision = release.get("version") if isinstance(release.get("version"), int) else None
    status = str((release.get("info") or {}).get("status") or "unknown")
    has = chart_version(release)
    if chart_identity(chart_of(release)) != identity or has != version:
        return Verdict(
            "failed",
            f"release is on revision {revision} with chart {has or 'unknown'}"
            + ("" if has != version else " of another identity"),
            revision,
        )
    if status != "deployed":
        return Verdict("failed", f"release revision {revision} is {status}", revision)
    return None


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) else 0


def workload_problem(w: Workload, obj: dict[str, Any] | None) -> Verdict | None:
    """Waiting (not ready yet) or failed (a Job failed); None when ready."""
    ref = f"{w.kind}/{w.name}"
    if obj is None:
        return Verdict("waiting", f"waiting for {ref}: not found")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if _int(status, "observedGeneration") < _int(meta, "generation"):
        return Verdict("waiting", f"waiting for {ref}: its controller has not seen it yet")
    if w.kind == "job":
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Failed":
                why = cond.get("message") or cond.get("reason") or "failed"
                return Verdict("failed", f"{ref} failed: {why}")
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return None
        return Verdict("waiting", f"waiting for {ref}: not complete")
    if w.kind == "daemonset":
        want = _int(status, "desiredNumberScheduled")
        ready, updated = _int(status, "numberReady"), _int(status, "updatedNumberScheduled")
    else:
        replicas = spec.get("replicas")
        want = replicas if isinstance(replicas, int) else 1
        ready, updated = _int(status, "readyReplicas"), _int(status, "updatedReplicas")
        if w.kind == "deployment":
            ready = min(ready, _int(status, "availableReplicas"))
    if ready < want or updated < want:
        return Verdict("waiting", f"waiting for {ref}: {min(ready, updated)}/{want} ready")
    return None


def pod_problem(pod: dict[str, Any]) -> Verdict | None:
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        why = status.get("message") or status.get("reason") or "phase Failed"
        return Verdict("failed", f"pod {name} failed: {why}")
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING:
            why = waiting["reason"] + (f": {waiting['message']}" if waiting.get("message") else "")
            return Verdict("failed", f"pod {name} container {cs.get('name')}: {why}")
    return None


def verdict(
    release: dict[str, Any] | None,
    identity: str,
    version: str,
    objects: list[tuple[Workload, dict[str, Any] | None]],
    pods: list[dict[str, Any]],
) -> Verdict:
    """All checks together: the first failure, else the first wait, else ok."""
    bad = release_verdict(release, identity, version)
    if bad is not None:
        return bad
    revision = (
        release.get("version") if release and isinstance(release.get("version"), int) else None
    )
    waits: list[Verdict] = []
    for w, obj in objects:
        problem = workload_problem(w, obj)
        if problem is not None and problem.state == "failed":
            return problem._replace(revision=revision)
        if problem is not None:
            waits.append(problem)
    for pod in pods:
        problem = pod_problem(pod)
        if problem is not None:
            return problem._replace(revision=revision)
    if waits:
        return waits[0]._replace(revision=revision)
    return Verdict("ok", "", revision)

"""What counts as evidence that a promotion step ran, and what the target shows (pure).

The evidence is helm's own `-o json` of the backend's run (change.md §5, "Verification"):
its revision and the digests of its manifest and canonical config. A release record on the
target counts only when it is a Secret of type `helm.sh/release.v1` at exactly helm's
revision with the same digests: whoever may deploy to the namespace can write records (a
planted `v999`, a ConfigMap), so records confirm helm's output and never replace it.

Workloads come from helm's manifest: Deployments, StatefulSets, DaemonSets and Jobs, with
the containers (name, image) of their pod templates. Only pods of the workload's current
template count (owned by it, or by its current ReplicaSet). A pod fails the step on any
restart or terminated container with a non-zero exit, without waiting for a back-off; only
containers the manifest names are compared; an image matches if equal, or if the live one
is the manifest's repository pinned by digest.

Every message is classified (`verification: …`, or `ENV no longer verified: …` for the
previous step) and names kinds, objects, containers and exit codes, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from scipian_backend.promotions.records import Verdict

RECORD_TYPE = "helm.sh/release.v1"
WORKLOAD_KINDS = {
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "StatefulSet"): "StatefulSet",
    ("apps/v1", "DaemonSet"): "DaemonSet",
    ("batch/v1", "Job"): "Job",
}
# Waiting reasons after which a container does not start by itself.
BAD_WAITING = (
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


class Evidence(NamedTuple):
    """What helm said of its own run (or what the step recorded of it)."""

    revision: int
    manifest_digest: str
    config_digest: str


class RecordFacts(NamedTuple):
    """One release record as read on the target, reduced to what verification compares."""

    revision: int
    secret_type: str
    status: str
    manifest_digest: str
    config_digest: str


class Workload(NamedTuple):
    kind: str  # Deployment | StatefulSet | DaemonSet | Job
    namespace: str
    name: str
    containers: tuple[tuple[str, str], ...]  # (name, image) of the manifest's pod template

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


def failed(why: str, revision: int | None = None) -> Verdict:
    return Verdict("failed", f"verification: {why}", revision)


def waiting(why: str, revision: int | None = None) -> Verdict:
    return Verdict("waiting", f"verification: {why}", revision)


# --- records ------------------------------------------------------------------------------


def counted(records: Iterable[RecordFacts]) -> list[RecordFacts]:
    """The records that may count at all: Secrets of Helm's own type."""
    return [r for r in records if r.secret_type == RECORD_TYPE]


def records_verdict(
    revisions: Sequence[int], record: RecordFacts | None, helm: Evidence
) -> Verdict | None:
    """A failing verdict unless helm's revision is recorded once, by a Secret of Helm's
    type, deployed, with helm's digests, and nothing newer was written beside it (None: the
    records agree). `revisions`: those of the release's Secrets of Helm's type (labels
    only); `record`: the one at helm's revision, decoded (None: absent or undecodable)."""
    if max(revisions, default=0) > helm.revision:
        return failed("a newer release revision than the executed one appeared", helm.revision)
    if list(revisions).count(helm.revision) > 1:
        return failed("more than one release record of the executed revision", helm.revision)
    if record is None or record.secret_type != RECORD_TYPE or record.revision != helm.revision:
        return failed("no release record of the executed revision", helm.revision)
    if (record.manifest_digest, record.config_digest) != (
        helm.manifest_digest,
        helm.config_digest,
    ):
        return failed("the release record differs from what helm applied", helm.revision)
    if record.status != "deployed":
        return failed(f"the executed revision is {_word(record.status)}", helm.revision)
    return None


def still_verified(records: Sequence[RecordFacts], recorded: Evidence) -> bool:
    """The previous step still holds: a deployed revision at or after the recorded one
    whose manifest and config digests equal the recorded ones."""
    return any(
        r.status == "deployed"
        and r.revision >= recorded.revision
        and r.manifest_digest == recorded.manifest_digest
        and r.config_digest == recorded.config_digest
        for r in counted(records)
    )


def recorded_evidence(step: Mapping[str, Any]) -> Evidence | None:
    """What a step recorded after its run (None: it recorded nothing usable)."""
    revision = step.get("revision")
    manifest, config = step.get("manifestDigest"), step.get("configDigest")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        return None
    if not (isinstance(manifest, str) and DIGEST.fullmatch(manifest)):
        return None
    if not (isinstance(config, str) and DIGEST.fullmatch(config)):
        return None
    return Evidence(revision, manifest, config)


# --- workloads ----------------------------------------------------------------------------


def workloads(objects: Iterable[Mapping[str, Any]], namespace: str) -> list[Workload]:
    """The workloads helm's manifest declares (hooks are not in it), in manifest order."""
    found: list[Workload] = []
    for obj in objects:
        kind = WORKLOAD_KINDS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        meta = obj.get("metadata")
        if kind is None or not isinstance(meta, dict) or not meta.get("name"):
            continue
        found.append(
            Workload(
                kind,
                str(meta.get("namespace") or namespace),
                str(meta["name"]),
                template_containers(obj),
            )
        )
    return found


def template_containers(obj: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(name, image) of a workload's pod template, init containers included."""
    spec = _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec"))
    return tuple(_containers(spec))


def pod_containers(pod: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(_containers(_dict(pod.get("spec"))))


def _containers(spec: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for key in ("initContainers", "containers"):
        for c in _list(spec.get(key)):
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                yield c["name"], str(c.get("image") or "")


def repository(image: str) -> str:
    """`registry:5000/team/app:1.2@sha256:…` → `registry:5000/team/app`."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def image_matches(manifest: str, live: str) -> bool:
    if live == manifest:
        return True
    repo, sep, digest = live.partition("@")
    return bool(sep) and DIGEST.fullmatch(digest) is not None and repo == repository(manifest)


def images_verdict(
    what: str, want: Sequence[tuple[str, str]], live: Sequence[tuple[str, str]]
) -> Verdict | None:
    """Each container the manifest names runs its image (others, e.g. injected ones, are
    not compared)."""
    have = dict(live)
    for name, image in want:
        if name not in have:
            return failed(f"{what} has no container {name}")
        if not image_matches(image, have[name]):
            return failed(f"{what} container {name} runs an image other than the approved one")
    return None


def workload_verdict(w: Workload, obj: Mapping[str, Any] | None) -> Verdict | None:
    """Failed (its images moved, a Job failed), waiting (not rolled out yet), or None."""
    if obj is None:  # helm --wait saw it: gone since (a finished Job may clean itself up)
        return None if w.kind == "Job" else failed(f"{w.ref} is gone")
    bad = images_verdict(w.ref, w.containers, template_containers(obj))
    if bad is not None:
        return bad
    spec, status, meta = (
        _dict(obj.get("spec")),
        _dict(obj.get("status")),
        _dict(obj.get("metadata")),
    )
    if w.kind == "Job":  # a Job's status has no observedGeneration; its conditions say it
        for cond in _list(status.get("conditions")):
            if not isinstance(cond, dict) or cond.get("status") != "True":
                continue
            if cond.get("type") == "Failed":
                return failed(f"{w.ref} failed")
            if cond.get("type") == "Complete":
                return None
        return waiting(f"{w.ref} not complete")
    if _int(status, "observedGeneration") < _int(meta, "generation"):
        return waiting(f"{w.ref} not yet seen by its controller")
    if w.kind == "DaemonSet":
        want = _int(status, "desiredNumberScheduled")
        ready, updated = _int(status, "numberReady"), _int(status, "updatedNumberScheduled")
        extra = _int(status, "currentNumberScheduled") - updated
    else:
        replicas = spec.get("replicas")
        want = replicas if isinstance(replicas, int) else 1
        ready, updated = _int(status, "readyReplicas"), _int(status, "updatedReplicas")
        if w.kind == "Deployment":
            ready = min(ready, _int(status, "availableReplicas"))
        extra = _int(status, "replicas") - updated if w.kind == "Deployment" else 0
    if ready < want or updated < want or extra > 0:
        return waiting(f"{w.ref} {min(ready, updated)}/{want} ready")
    return None


def current_pods(
    w: Workload,
    obj: Mapping[str, Any] | None,
    replicasets: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The pods of the workload's current template, not being deleted: owned by it (a
    Deployment's through its current ReplicaSet), never pods that only share its labels."""
    if obj is None:
        return []
    meta = _dict(obj.get("metadata"))
    uid = meta.get("uid")
    if not uid:
        return []
    if w.kind == "Deployment":
        revision = _dict(meta.get("annotations")).get(REVISION_ANNOTATION)
        owners = {
            _dict(rs.get("metadata")).get("uid")
            for rs in replicasets
            if _controller(rs) == uid
            and revision is not None
            and _dict(_dict(rs.get("metadata")).get("annotations")).get(REVISION_ANNOTATION)
            == revision
        }
    else:
        owners = {uid}
    out = []
    for pod in pods:
        pmeta = _dict(pod.get("metadata"))
        if pmeta.get("deletionTimestamp") or _controller(pod) not in owners:
            continue
        labels = _dict(pmeta.get("labels"))
        if w.kind == "StatefulSet":
            update = _dict(obj.get("status")).get("updateRevision")
            if update and labels.get("controller-revision-hash") != update:
                continue
        if w.kind == "DaemonSet":
            generation = labels.get("pod-template-generation")
            if generation is not None and generation != str(meta.get("generation")):
                continue
        out.append(pod)
    return out


def pod_verdict(w: Workload, pod: Mapping[str, Any]) -> Verdict | None:
    """Failed on a restart, a non-zero exit, a container that cannot start, or another
    image than the manifest's, in any container the manifest names; else None."""
    name = str(_dict(pod.get("metadata")).get("name") or "")
    named = {c for c, _ in w.containers}
    bad = images_verdict(f"pod {name}", w.containers, pod_containers(pod))
    if bad is not None:
        return bad
    status = _dict(pod.get("status"))
    for cs in _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses")):
        if not isinstance(cs, dict) or cs.get("name") not in named:
            continue
        where = f"pod {name} container {cs['name']}"
        if _int(cs, "restartCount") > 0:
            return failed(f"{where} restarted")
        for key in ("state", "lastState"):
            terminated = _dict(_dict(cs.get(key)).get("terminated"))
            code = terminated.get("exitCode")
            if isinstance(code, int) and code != 0:
                return failed(f"{where} exited with code {code}")
        reason = _dict(_dict(cs.get("state")).get("waiting")).get("reason")
        if reason in BAD_WAITING:
            return failed(f"{where} cannot start ({reason})")
    if status.get("phase") == "Failed":
        return failed(f"pod {name} failed")
    return None


class Observed(NamedTuple):
    """One workload as read on the target."""

    workload: Workload
    obj: Mapping[str, Any] | None
    pods: Sequence[Mapping[str, Any]]  # its current pods (current_pods)


def workloads_verdict(observed: Sequence[Observed], revision: int | None) -> Verdict:
    """The first failure, else the first wait, else ok (with helm's revision)."""
    waits: list[Verdict] = []
    for o in observed:
        problem = workload_verdict(o.workload, o.obj)
        if problem is not None and problem.state == "failed":
            return problem._replace(revision=revision)
        if problem is not None:
            waits.append(problem)
        for pod in o.pods:
            bad = pod_verdict(o.workload, pod)
            if bad is not None:
                return bad._replace(revision=revision)
    if waits:
        return waits[0]._replace(revision=revision)
    return Verdict("ok", "", revision)


def _controller(obj: Mapping[str, Any]) -> object:
    for ref in _list(_dict(obj.get("metadata")).get("ownerReferences")):
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref.get("uid")
    return None


def _word(value: str) -> str:
    """A record's status as one word of Helm's vocabulary (never its text otherwise)."""
    return value if re.fullmatch(r"[a-z-]{1,32}", value) else "not deployed"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""promotions/evidence.py: what counts as a step's evidence, and the verdicts on what the
target shows (pure)."""

from __future__ import annotations

from typing import Any

from scipian_backend.promotions import evidence as ev
from scipian_backend.promotions.evidence import Evidence, Observed, RecordFacts, Workload
from scipian_backend.promotions.records import Verdict

M = "sha256:" + "a" * 64
C = "sha256:" + "c" * 64
OTHER = "sha256:" + "f" * 64
HELM = Evidence(3, M, C)
IMG = "registry.example/shop-web:1.2"
PINNED = "registry.example/shop-web@sha256:" + "1" * 64


def record(
    revision: int = 3,
    kind: str = ev.RECORD_TYPE,
    status: str = "deployed",
    manifest: str = M,
    config: str = C,
) -> RecordFacts:
    return RecordFacts(revision, kind, status, manifest, config)


# --- records --------------------------------------------------------------------------


def test_helms_own_revision_with_its_digests_counts() -> None:
    assert ev.records_verdict([1, 2, 3], record(), HELM) is None


def test_a_planted_newer_secret_record_fails_the_step() -> None:
    v = ev.records_verdict([1, 3, 999], record(), HELM)
    assert v is not None and v.state == "failed"
    assert v.message == "verification: a newer release revision than the executed one appeared"


def test_a_configmap_or_opaque_record_never_counts() -> None:
    for kind in ("configmap", "Opaque", ""):
        v = ev.records_verdict([3], record(kind=kind), HELM)
        assert (
            v is not None
            and v.message == "verification: no release record of the executed revision"
        )


def test_a_record_whose_digests_differ_from_helms_fails() -> None:
    for bad in (record(manifest=OTHER), record(config=OTHER)):
        v = ev.records_verdict([3], bad, HELM)
        assert v is not None and v.state == "failed"
        assert v.message == "verification: the release record differs from what helm applied"
        assert v.revision == 3


def test_a_missing_duplicate_or_undeployed_record_fails() -> None:
    assert ev.records_verdict([], None, HELM) is not None
    assert ev.records_verdict([2], None, HELM) is not None
    assert ev.records_verdict([2, 3], record(2), HELM) is not None  # another revision's
    twice = ev.records_verdict([3, 3], record(), HELM)
    assert twice is not None and "more than one" in twice.message
    failed = ev.records_verdict([3], record(status="failed"), HELM)
    assert failed is not None and failed.message == "verification: the executed revision is failed"
    odd = ev.records_verdict([3], record(status="Deployed <script>"), HELM)
    assert odd is not None and odd.message == "verification: the executed revision is not deployed"


def test_still_verified_needs_a_deployed_revision_at_or_after_with_equal_digests() -> None:
    assert ev.still_verified([record()], HELM)
    # a later plain deploy of the same bytes keeps it verified
    assert ev.still_verified([record(status="superseded"), record(4)], HELM)
    # another chart or values deployed since: no longer
    assert not ev.still_verified([record(status="superseded"), record(4, manifest=OTHER)], HELM)
    assert not ev.still_verified([record(4, config=OTHER)], HELM)
    # an older revision with the digests, a failed one, or a ConfigMap: never
    assert not ev.still_verified([record(2)], HELM)
    assert not ev.still_verified([record(status="failed")], HELM)
    assert not ev.still_verified([record(kind="configmap")], HELM)
    assert not ev.still_verified([], HELM)


def test_recorded_evidence_takes_only_well_formed_fields() -> None:
    step = {"revision": 3, "manifestDigest": M, "configDigest": C}
    assert ev.recorded_evidence(step) == HELM
    for broken in (
        {**step, "revision": 0},
        {**step, "revision": True},
        {**step, "revision": "3"},
        {**step, "manifestDigest": "sha256:xyz"},
        {**step, "configDigest": None},
        {"revision": 3},
    ):
        assert ev.recorded_evidence(broken) is None


# --- workloads from helm's manifest -----------------------------------------------------


def deployment_doc(image: str = IMG, **more: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1"}],
                    "containers": [{"name": "web", "image": image}],
                }
            },
        },
        **more,
    }


def test_workloads_come_from_the_manifests_objects() -> None:
    objects = [
        deployment_doc(),
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m", "namespace": "o"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "apps/v1beta1", "kind": "Deployment", "metadata": {"name": "old"}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}},
    ]
    assert ev.workloads(objects, "shop") == [
        Workload("Deployment", "shop", "web", (("init", "busybox:1"), ("web", IMG))),
        Workload("Job", "o", "m", ()),
        Workload("DaemonSet", "shop", "ds", ()),
    ]


def test_an_image_matches_when_equal_or_pinned_by_digest_in_the_same_repository() -> None:
    assert ev.image_matches(IMG, IMG)
    assert ev.image_matches(IMG, PINNED)
    assert ev.image_matches("registry:5000/app", "registry:5000/app@sha256:" + "2" * 64)
    assert ev.image_matches("app:1@sha256:" + "3" * 64, "app@sha256:" + "4" * 64)
    assert not ev.image_matches(IMG, "registry.example/shop-web:1.3")
    assert not ev.image_matches(IMG, "evil.example/shop-web@sha256:" + "1" * 64)
    assert not ev.image_matches(IMG, "registry.example/shop-web@sha256:short")
    assert not ev.image_matches(IMG, "registry.example/shop-web-evil@sha256:" + "1" * 64)
    assert (
        ev.repository("registry:5000/team/app:1.2@sha256:" + "1" * 64) == "registry:5000/team/app"
    )


WEB = Workload("Deployment", "shop", "web", (("web", IMG),))


def live(
    image: str = IMG,
    ready: int = 2,
    generation: int = 2,
    observed: int = 2,
    replicas: int | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "uid": "d-uid",
            "generation": generation,
            "annotations": {ev.REVISION_ANNOTATION: "5"},
        },
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "web", "image": image}]}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": ready if replicas is None else replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": ready,
        },
    }


def test_a_workload_is_ready_waiting_or_failed() -> None:
    assert ev.workload_verdict(WEB, live()) is None
    assert ev.workload_verdict(WEB, live(image=PINNED)) is None
    gone = ev.workload_verdict(WEB, None)
    assert gone is not None and gone.state == "failed"
    assert gone.message == "verification: Deployment/web is gone"
    assert ev.workload_verdict(Workload("Job", "shop", "m", ()), None) is None  # cleaned up
    for slow in (live(ready=1), live(observed=1), live(replicas=3)):
        v = ev.workload_verdict(WEB, slow)
        assert v is not None and v.state == "waiting", slow
    v = ev.workload_verdict(WEB, live(ready=1))
    assert v is not None and v.message == "verification: Deployment/web 1/2 ready"


def test_set_image_on_the_workload_fails_at_once() -> None:
    v = ev.workload_verdict(WEB, live(image="registry.example/shop-web:evil", ready=1))
    assert v is not None and v.state == "failed"
    assert v.message == (
        "verification: Deployment/web container web runs an image other than the approved one"
    )
    gone = live()
    gone["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed"
    v = ev.workload_verdict(WEB, gone)
    assert v is not None and v.message == "verification: Deployment/web has no container web"


def test_jobs_and_daemonsets() -> None:
    job = Workload("Job", "shop", "m", ())
    base = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1}}
    done = {**base, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    bad = {**base, "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    assert ev.workload_verdict(job, done) is None
    v = ev.workload_verdict(job, bad)
    assert v is not None and v.state == "failed" and v.message == "verification: Job/m failed"
    v = ev.workload_verdict(job, {"metadata": {}, "status": {}})
    assert v is not None and v.state == "waiting"
    ds = Workload("DaemonSet", "shop", "ds", ())
    st = {"desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}
    assert ev.workload_verdict(ds, {"status": {**st, "currentNumberScheduled": 2}}) is None
    v = ev.workload_verdict(ds, {"status": {**st, "numberReady": 1}})
    assert v is not None and v.state == "waiting"


def owned(owner: str, name: str = "p", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "ownerReferences": [{"uid": owner, "controller": True}],
            **meta,
        }
    }


def test_only_pods_of_the_current_template_count() -> None:
    rs_now = owned("d-uid", "rs5", uid="rs5", annotations={ev.REVISION_ANNOTATION: "5"})
    rs_old = owned("d-uid", "rs4", uid="rs4", annotations={ev.REVISION_ANNOTATION: "4"})
    rs_else = owned("x-uid", "rsx", uid="rsx", annotations={ev.REVISION_ANNOTATION: "5"})
    new, old = owned("rs5", "new"), owned("rs4", "old")
    stranger = {"metadata": {"name": "stranger", "labels": {"app": "web"}}}
    going = owned("rs5", "going", deletionTimestamp="2026-01-01T00:00:00Z")
    other = owned("rsx", "other")
    pods = [new, old, stranger, going, other]
    got = ev.current_pods(WEB, live(), [rs_now, rs_old, rs_else], pods)
    assert [p["metadata"]["name"] for p in got] == ["new"]
    assert ev.current_pods(WEB, None, [rs_now], pods) == []

    sts = Workload("StatefulSet", "shop", "db", ())
    obj = {"metadata": {"uid": "s-uid"}, "status": {"updateRevision": "db-2"}}
    a = owned("s-uid", "a", labels={"controller-revision-hash": "db-2"})
    b = owned("s-uid", "b", labels={"controller-revision-hash": "db-1"})
    assert [p["metadata"]["name"] for p in ev.current_pods(sts, obj, [], [a, b])] == ["a"]

    ds = Workload("DaemonSet", "shop", "ds", ())
    dobj: dict[str, Any] = {"metadata": {"uid": "ds-uid", "generation": 3}}
    a = owned("ds-uid", "a", labels={"pod-template-generation": "3"})
    b = owned("ds-uid", "b", labels={"pod-template-generation": "2"})
    assert [p["metadata"]["name"] for p in ev.current_pods(ds, dobj, [], [a, b])] == ["a"]


def pod(
    image: str = IMG,
    restarts: int = 0,
    state: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    name: str = "web",
    phase: str = "Running",
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1"},
        "spec": {"containers": [{"name": name, "image": image}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": name,
                    "restartCount": restarts,
                    "state": state or {"running": {}},
                    "lastState": last or {},
                }
            ],
        },
    }


def test_a_pod_fails_on_a_restart_or_a_non_zero_exit_without_waiting_for_back_off() -> None:
    assert ev.pod_verdict(WEB, pod()) is None
    assert ev.pod_verdict(WEB, pod(state={"terminated": {"exitCode": 0}})) is None
    cases = {
        "verification: pod web-1 container web restarted": pod(restarts=1),
        "verification: pod web-1 container web exited with code 3": pod(
            state={"terminated": {"exitCode": 3, "message": "the-secret-value"}}
        ),
        "verification: pod web-1 container web exited with code 137": pod(
            last={"terminated": {"exitCode": 137}}
        ),
        "verification: pod web-1 container web cannot start (ErrImagePull)": pod(
            state={"waiting": {"reason": "ErrImagePull", "message": "the-secret-value"}}
        ),
        "verification: pod web-1 container web runs an image other than the approved one": pod(
            image="registry.example/shop-web:evil"
        ),
        "verification: pod web-1 failed": pod(phase="Failed"),
    }
    for message, p in cases.items():
        v = ev.pod_verdict(WEB, p)
        assert v is not None and v.state == "failed" and v.message == message
        assert "the-secret-value" not in v.message


def test_containers_the_manifest_does_not_name_are_not_compared() -> None:
    p = pod()
    p["spec"]["containers"].append({"name": "sidecar", "image": "mesh/proxy:9"})
    p["status"]["containerStatuses"].append(
        {"name": "sidecar", "restartCount": 4, "state": {"terminated": {"exitCode": 1}}}
    )
    assert ev.pod_verdict(WEB, p) is None


def test_the_whole_verdict_is_the_first_failure_else_the_first_wait() -> None:
    ok = Observed(WEB, live(), [pod()])
    assert ev.workloads_verdict([ok], 3) == Verdict("ok", "", 3)
    assert ev.workloads_verdict([], 3).state == "ok"
    slow = Observed(WEB, live(ready=1), [pod()])
    crashing = Observed(WEB, live(ready=1), [pod(restarts=1)])
    v = ev.workloads_verdict([slow, crashing], 3)
    assert v.state == "failed" and v.revision == 3 and "restarted" in v.message
    v = ev.workloads_verdict([ok, slow], 3)
    assert v.state == "waiting" and v.revision == 3

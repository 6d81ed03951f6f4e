"""The worker room (backend/scipian_backend/worker/) against the stack's real mgmt apiserver.

Rooms run in this process as the backend's own least-privilege ServiceAccount (so the
Lease verbs of manifests/rbac.yaml are what they use), over objects of a CRD this module
applies (`workitems.worker-test.scipian.io`, deleted afterwards) that the stack's own
backend never watches. Each test has its own work kind (its Leases' names), objects and
periodic Lease. Short Lease timings by constructor argument (as `serve --worker-*` flags).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from kubernetes import client

from scipian_backend import kube
from scipian_backend.metrics import Metrics
from scipian_backend.worker import Claim, WorkerRoom
from tests.conftest import Stack
from tests.e2e.cut_proxy import CutProxy
from tests.stack.backend_daemon import BACKEND_NS, BACKEND_SA, mgmt_kubeconfig

GROUP, VERSION, PLURAL = "worker-test.scipian.io", "v1", "workitems"
CRD_NAME = f"{PLURAL}.{GROUP}"
ROLE = "scipian-test-worker-room"
WAIT = 60.0  # every wait's deadline


def _crd() -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": PLURAL, "singular": "workitem", "kind": "WorkItem"},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _grant() -> list[dict[str, Any]]:
    """The backend's ServiceAccount may read, watch and mark the test's objects."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": ROLE},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": [PLURAL],
                    "verbs": ["get", "list", "watch", "patch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": BACKEND_SA, "namespace": BACKEND_NS}],
        },
    ]


@dataclass
class World:
    stack: Stack
    suffix: str

    def api(self, port: int | None = None) -> client.ApiClient:
        """The backend's own mgmt client; through 127.0.0.1:`port` when given (a proxy)."""
        doc = json.loads(mgmt_kubeconfig().read_text())
        if port is not None:
            cluster = doc["clusters"][0]["cluster"]
            cluster["server"] = f"https://127.0.0.1:{port}"
        return kube.from_kubeconfig_dict(doc)

    def upstream(self) -> tuple[str, int]:
        doc = json.loads(mgmt_kubeconfig().read_text())
        host, port = doc["clusters"][0]["cluster"]["server"].removeprefix("https://").split(":")
        return host, int(port)

    def create(self, short: str, name: str, mode: str, **spec: str) -> str:
        full = f"wr-{self.suffix}-{name}"
        obj = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "WorkItem",
            "metadata": {"name": full},
            "spec": {"test": short, "mode": mode, **spec},
        }
        self.stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(obj))
        return full

    def get(self, name: str) -> dict[str, Any]:
        out = self.stack.kubectl("mgmt", "get", CRD_NAME, name, "-o", "json")
        return dict(json.loads(out.stdout))

    def lease(self, name: str) -> dict[str, Any] | None:
        out = self.stack.kubectl(
            "mgmt", "get", "lease", "-n", BACKEND_NS, name, "-o", "json", check=False
        )
        return json.loads(out.stdout) if out.returncode == 0 else None

    def leases(self, prefix: str) -> list[str]:
        out = self.stack.kubectl("mgmt", "get", "lease", "-n", BACKEND_NS, "-o", "name")
        names = [line.split("/", 1)[1] for line in out.stdout.split()]
        return [n for n in names if n.startswith(prefix)]

    def room(self, name: str, api: client.ApiClient | None = None, **kw: Any) -> WorkerRoom:
        opts: dict[str, Any] = {
            "lease_seconds": 4,
            "renew_seconds": 0.5,
            "lost_after_seconds": 1.5,
            "threads": 2,
            "stop_seconds": 10.0,
            "periodic_lease": f"scipian-test-worker-{self.suffix}",
            "timeout": 5.0,
        }
        opts.update(kw)
        return WorkerRoom(api or self.api(), BACKEND_NS, f"{name}-{self.suffix}", **opts)


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    stack.kubectl("mgmt", "apply", "-f", "-", input=json.dumps(_crd()))
    stack.kubectl(
        "mgmt",
        "apply",
        "-f",
        "-",
        input=json.dumps({"kind": "List", "apiVersion": "v1", "items": _grant()}),
    )
    stack.kubectl("mgmt", "wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    w = World(stack, uuid.uuid4().hex[:6])
    try:
        yield w
    finally:
        leftovers = [
            *w.leases(f"scipian-exec-wt{w.suffix}"),
            *w.leases(f"scipian-test-worker-{w.suffix}"),
        ]
        if leftovers:
            stack.kubectl(
                "mgmt", "delete", "lease", "-n", BACKEND_NS, "--ignore-not-found", *leftovers
            )
        stack.kubectl(
            "mgmt", "delete", "clusterrolebinding,clusterrole", ROLE, "--ignore-not-found"
        )
        stack.kubectl("mgmt", "delete", "crd", CRD_NAME, "--ignore-not-found", "--timeout=60s")


class Log:
    """What the rooms did, in the order it happened (one list for every room)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def add(self, *event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, what: Callable[[list[tuple[Any, ...]]], bool]) -> list[tuple[Any, ...]]:
        with self._cond:
            ok = self._cond.wait_for(lambda: what(self.events), timeout=WAIT)
            assert ok, self.events
            return list(self.events)

    def index(self, *event: Any) -> int:
        with self._cond:
            return self.events.index(event)


class Items:
    """The test's work kind: objects of one test (spec.test) that no replica marked done.

    A turn marks the object done (status.doneBy) after a moment, so that two replicas
    working one object at once would both record a turn. mode `hold` instead waits (on the
    replica spec.holdOn, or every one) until its claim is lost or the replica stops;
    `fail-once` raises on its object's first turn; `stubborn` waits for the loss only.
    """

    group, version, plural = GROUP, VERSION, PLURAL

    def __init__(self, short: str, replica: str, api: client.ApiClient, log: Log) -> None:
        self.short = short
        self._replica = replica
        self._objects = client.CustomObjectsApi(api)
        self._log = log

    def wants(self, obj: dict[str, Any], now: datetime) -> bool:
        spec = obj.get("spec") or {}
        return spec.get("test") == self.short and not (obj.get("status") or {}).get("doneBy")

    def turn(self, obj: dict[str, Any], claim: Claim) -> float | None:
        name = obj["metadata"]["name"]
        spec = obj["spec"]
        me = self._replica
        self._log.add("turn", me, name)
        mode = spec["mode"]
        if mode in ("hold", "stubborn") and spec.get("holdOn", me) == me:
            claim.on_lost(lambda: self._log.add("on_lost", me, name, claim.lost.is_set()))
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                if claim.lost.wait(0.05):
                    self._log.add("gave-up", me, name)
                    return None
                if mode == "hold" and claim.stopping.is_set():
                    self._log.add("stopping", me, name)
                    return None
            raise AssertionError("the claim was never lost")
        if mode == "fail-once" and len(_turns(self._log.events, name)) == 1:
            raise RuntimeError(f"the first turn fails: {spec.get('secret', '')}")
        time.sleep(0.2)
        self._objects.patch_cluster_custom_object(
            GROUP, VERSION, PLURAL, name, {"status": {"doneBy": me}}
        )
        self._log.add("done", me, name)
        return None


def _turns(events: list[tuple[Any, ...]], name: str) -> list[str]:
    return [e[1] for e in events if e[0] == "turn" and e[2] == name]


def test_each_object_is_claimed_by_exactly_one_replica(world: World) -> None:
    short = f"wt{world.suffix}a"
    log = Log()
    rooms = [world.room(n) for n in ("a", "b")]
    for r in rooms:
        r.add_kind(Items(short, r.replica, world.api(), log))
        r.start()
    try:
        names = [world.create(short, f"one-{i}", "done") for i in range(6)]
        log.wait_for(lambda ev: all(any(e[0] == "done" and e[2] == n for e in ev) for n in names))
    finally:
        for r in rooms:
            r.stop()
    for name in names:
        turns = _turns(log.events, name)
        assert len(turns) == 1, (name, log.events)
        assert world.get(name)["status"]["doneBy"] == turns[0]
    # Every claim was given back: no execution Lease of this kind is left.
    assert world.leases(f"scipian-exec-{short}-") == []


def test_a_partitioned_holder_gives_up_before_another_replica_takes_over(world: World) -> None:
    short = f"wt{world.suffix}b"
    log = Log()
    proxy = CutProxy(*world.upstream())
    a = world.room("a", api=world.api(proxy.port))
    b = world.room("b")
    a.add_kind(Items(short, a.replica, world.api(), log))
    b.add_kind(Items(short, b.replica, world.api(), log))
    a.start()
    try:
        name = world.create(short, "partitioned", "hold", holdOn=a.replica)
        log.wait_for(lambda ev: ("turn", a.replica, name) in ev)
        b.start()  # B sees the object held by A
        lease = world.lease(f"scipian-exec-{short}-{name}")
        assert lease is not None and lease["spec"]["holderIdentity"] == a.replica
        proxy.cut()  # A can no longer renew
        log.wait_for(lambda ev: ("done", b.replica, name) in ev)
    finally:
        proxy.close()
        b.stop()
        a.stop()
    lost = log.index("on_lost", a.replica, name, False)  # callbacks run before `lost` is set
    gave_up = log.index("gave-up", a.replica, name)
    taken = log.index("turn", b.replica, name)
    assert lost < gave_up < taken, log.events
    assert _turns(log.events, name) == [a.replica, b.replica]
    assert world.get(name)["status"]["doneBy"] == b.replica


def test_a_stolen_lease_calls_on_lost_and_is_not_deleted_by_the_loser(world: World) -> None:
    short = f"wt{world.suffix}c"
    log = Log()
    a = world.room("a")
    a.add_kind(Items(short, a.replica, world.api(), log))
    a.start()
    thief = f"thief-{world.suffix}"
    try:
        name = world.create(short, "stolen", "hold")
        log.wait_for(lambda ev: ("turn", a.replica, name) in ev)
        lease = f"scipian-exec-{short}-{name}"
        patch = {"spec": {"holderIdentity": thief}}
        world.stack.kubectl(
            "mgmt",
            "patch",
            "lease",
            "-n",
            BACKEND_NS,
            lease,
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        log.wait_for(lambda ev: ("gave-up", a.replica, name) in ev)
    finally:
        a.stop()
    assert log.index("on_lost", a.replica, name, False) < log.index("gave-up", a.replica, name)
    held = world.lease(lease)
    assert held is not None and held["spec"]["holderIdentity"] == thief


def test_a_failing_turn_is_retried_and_the_loop_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A turn that raises is logged by its class (never its text, which may quote what it
    handled), counted, and retried with backoff; the loop works on."""
    short = f"wt{world.suffix}d"
    log = Log()
    metrics = Metrics()
    a = world.room("a", metrics=metrics)
    a.add_kind(Items(short, a.replica, world.api(), log))
    secret = f"s3cret-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG, logger="scipian.worker")
    a.start()
    try:
        failing = world.create(short, "fails", "fail-once", secret=secret)
        log.wait_for(lambda ev: ("done", a.replica, failing) in ev)
        other = world.create(short, "after", "done")
        log.wait_for(lambda ev: ("done", a.replica, other) in ev)
    finally:
        a.stop()
    assert _turns(log.events, failing) == [a.replica, a.replica]
    assert world.get(failing)["status"]["doneBy"] == a.replica
    failed = [r.getMessage() for r in caplog.records if "turn failed" in r.getMessage()]
    assert failed and failing in failed[0] and "RuntimeError" in failed[0], failed
    assert secret not in caplog.text
    exposition = metrics.render()
    assert f'scipian_worker_turns_total{{kind="{short}",outcome="failed"}} 1.0' in exposition
    assert f'scipian_worker_turns_total{{kind="{short}",outcome="ok"}} 2.0' in exposition
    assert "scipian_worker_claims 0.0" in exposition


def test_stop_lets_a_turn_end_and_gives_its_claim_back(world: World) -> None:
    short = f"wt{world.suffix}e"
    log = Log()
    a = world.room("a")
    a.add_kind(Items(short, a.replica, world.api(), log))
    a.start()
    try:
        name = world.create(short, "stopped", "hold")
        log.wait_for(lambda ev: ("turn", a.replica, name) in ev)
        assert world.lease(f"scipian-exec-{short}-{name}") is not None
    finally:
        a.stop()
    assert ("stopping", a.replica, name) in log.events
    assert not [e for e in log.events if e[0] == "on_lost"]
    assert world.lease(f"scipian-exec-{short}-{name}") is None


def test_stop_declares_a_turn_that_will_not_end_lost(world: World) -> None:
    short = f"wt{world.suffix}f"
    log = Log()
    a = world.room("a", stop_seconds=0.5)
    a.add_kind(Items(short, a.replica, world.api(), log))
    a.start()
    try:
        name = world.create(short, "stubborn", "stubborn")
        log.wait_for(lambda ev: ("turn", a.replica, name) in ev)
    finally:
        a.stop()
    assert log.index("on_lost", a.replica, name, False) < log.index("gave-up", a.replica, name)


def test_periodic_tasks_run_on_one_replica_at_a_time(world: World) -> None:
    runs: list[tuple[str, float, float]] = []
    cond = threading.Condition()

    def task(replica: str) -> Callable[[datetime], None]:
        def run(now: datetime) -> None:
            start = time.monotonic()
            time.sleep(0.1)
            with cond:
                runs.append((replica, start, time.monotonic()))
                cond.notify_all()

        return run

    rooms = [
        world.room(n, periodic_lease=f"scipian-test-worker-{world.suffix}") for n in ("a", "b")
    ]
    for r in rooms:
        r.add_periodic("tick", 0.2, task(r.replica))
        r.start()
    stopped: set[str] = set()
    try:
        with cond:
            assert cond.wait_for(lambda: len(runs) >= 4, timeout=WAIT), runs
            first = runs[0][0]
        assert {r[0] for r in runs} == {first}  # one holder runs them
        holder = next(r for r in rooms if r.replica == first)
        holder.stop()
        stopped.add(first)
        with cond:
            assert cond.wait_for(lambda: any(r[0] != first for r in runs), timeout=WAIT), runs
        lease = world.lease(f"scipian-test-worker-{world.suffix}")
        assert lease is not None
        assert "periodic.scipian.io/tick" in lease["metadata"]["annotations"]
    finally:
        for r in rooms:
            if r.replica not in stopped:
                r.stop()
    ordered = sorted(runs, key=lambda r: r[1])
    for before, after in itertools.pairwise(ordered):
        assert before[2] <= after[1], ordered  # never two runs at once
    assert {r[0] for r in runs} == {r.replica for r in rooms}


def test_a_watch_from_a_compacted_version_is_told_to_list_again(world: World) -> None:
    """The real apiserver answers a watch from a version it no longer has with 410 Gone;
    the watcher turns that into a re-list (Expired), not an error and its backoff."""
    from scipian_backend.worker.watch import Expired, Watcher

    w = Watcher(
        world.api(),
        GROUP,
        VERSION,
        PLURAL,
        lambda items: None,
        lambda kind, obj: None,
        threading.Event(),
        timeout=5.0,
    )
    with pytest.raises(Expired):
        w._watch("1")


def test_a_new_holder_keeps_the_periodic_rhythm(world: World) -> None:
    """A task's last run is kept on the periodic Lease: a replica taking over after a
    graceful handover does not run at once what the last holder ran moments ago."""
    runs: list[tuple[str, str]] = []
    cond = threading.Condition()

    def task(replica: str, name: str) -> Callable[[datetime], None]:
        def run(now: datetime) -> None:
            with cond:
                runs.append((replica, name))
                cond.notify_all()

        return run

    lease = f"scipian-test-rhythm-{world.suffix}"
    a, b = (world.room(n, periodic_lease=lease) for n in ("a", "b"))
    for r in (a, b):
        # In registration order on each pass: a `daily` due would run before `probe`.
        r.add_periodic("daily", 86400, task(r.replica, "daily"))
        r.add_periodic("probe", 0.2, task(r.replica, "probe"))
    a.start()
    try:
        with cond:
            assert cond.wait_for(lambda: (a.replica, "probe") in runs, timeout=WAIT), runs
        b.start()
        a.stop()
        with cond:
            assert cond.wait_for(lambda: (b.replica, "probe") in runs, timeout=WAIT), runs
    finally:
        b.stop()
        a.stop()
        world.stack.kubectl(
            "mgmt", "delete", "lease", "-n", BACKEND_NS, lease, "--ignore-not-found"
        )
    assert (a.replica, "daily") in runs
    assert (b.replica, "daily") not in runs, runs

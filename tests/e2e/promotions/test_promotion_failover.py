"""The replica executing a step killed mid-helm (change.md §5): its helm dies with it
(PR_SET_PDEATHSIG), the release is left `pending-upgrade`, and another replica takes the
promotion over once the dead one's execution Lease has expired: it rolls the release back
to its last deployed revision, records that on the step, runs the step again and
finishes.

Two backends of this test's own share the stack's mgmt (short Lease timings by flag, and a
label selector: they work this test's promotion only); the stack's own backend is a third
replica there. Which replica runs prod is made certain the
way an operator could: while prod waits for its approval (no replica wants a turn), the
promotion's execution Lease is given to replica A; after the approval only A may take it.
Whichever replica takes over after A's death, it is not A.

The test's every call (create, approve, the long polls) goes through a balancer of its own in
front of its two replicas, the stack's HAProxy configuration (tests/stack/balancer.py): the
replica killed mid-promotion is taken out of rotation, and the client never notices."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scipian_backend.worker.leases import lease_name, stamp
from tests.conftest import Stack
from tests.e2e.promotions.conftest import chart_copy, history
from tests.e2e.promotions.world import Api, Archive, Flow, Helm, Logins, step_of, upgrade_args
from tests.helpers import wait_for
from tests.stack.backend_daemon import BACKEND_NS, BackendProcess, spawn_backend
from tests.stack.balancer import Balancer

pytestmark = pytest.mark.stack

SHORT_LEASES = (
    "--worker-lease-seconds=6",
    "--worker-renew-seconds=2",
    "--worker-lost-after-seconds=4",
    "--worker-resync-seconds=2",
)
GATE = "scipian-test-gate"
# The two replicas work only promotions carrying this label (serve --worker-selector): they
# never take, and die holding, another test's promotion on the shared stack.
SHARD = "scipian.io/test-replicas"


@pytest.fixture(scope="module")
def gated(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """shop-web 1.5.0 whose pods also select `scipian-test-gate: <gate>` when the value
    `gate` is set: helm waits until a node carries that label."""
    out = tmp_path_factory.mktemp("promo-gated")

    def gate(chart: Path) -> None:
        path = chart / "templates" / "deployment.yaml"
        selector = "        {{- toYaml .Values.nodeSelector | nindent 8 }}\n"
        text = path.read_text().replace(
            selector,
            f"{selector}        {{{{- with .Values.gate }}}}\n"
            f"        {GATE}: {{{{ . | quote }}}}\n        {{{{- end }}}}\n",
        )
        assert GATE in text
        path.write_text(text)

    return helm.package("1.5.0", out, chart_copy(out, "gated", gate))


@pytest.fixture
def replicas(stack: Stack) -> Iterator[dict[str, BackendProcess]]:
    suffix = uuid.uuid4().hex[:6]
    started: dict[str, BackendProcess] = {}
    try:
        for key in ("a", "b"):
            started[f"fo-{key}-{suffix}"] = spawn_backend(
                stack.env["STACK_IDP_ISSUER"],
                stack.env["STACK_IDP_CLIENT_ID"],
                extra=(
                    f"--replica-id=fo-{key}-{suffix}",
                    f"--worker-selector={SHARD}={suffix}",
                    *SHORT_LEASES,
                ),
                name=f"failover-{key}",
                worker=True,
            )
        yield started
    finally:
        for proc in started.values():
            if proc.process.poll() is None:
                proc.stop()


@pytest.fixture
def front(replicas: dict[str, BackendProcess]) -> Iterator[Balancer]:
    """HAProxy in front of the two replicas, as the stack runs its own."""
    servers = [(name, proc.url.removeprefix("http://")) for name, proc in replicas.items()]
    balancer = Balancer.spawn("failover", servers)
    try:
        yield balancer
    finally:
        balancer.stop()


@pytest.fixture
def gate_value(stack: Stack) -> Iterator[str]:
    value = uuid.uuid4().hex[:10]
    yield value
    for node in ("kwok-node-0", "kwok-node-1"):
        stack.kubectl("prod", "label", "node", node, f"{GATE}-", check=False)


def helm_processes(release: str) -> list[int]:
    """Processes whose command line names the release (helm runs by any backend)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if release.encode() in argv and b"upgrade" in argv:
            found.append(int(pid))
    return found


def give_lease(stack: Stack, promotion: str, holder: str) -> None:
    """The promotion's execution Lease, held by `holder` for an hour (as mgmt's admin)."""
    now = stamp(datetime.now(timezone.utc))
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": lease_name("promotion", promotion), "namespace": BACKEND_NS},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 3600,
            "acquireTime": now,
            "renewTime": now,
        },
    }
    stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(lease))


def test_a_replica_killed_mid_helm_is_recovered_by_another(
    stack: Stack,
    front: Balancer,
    logins: Logins,
    helm: Helm,
    charts: dict[str, Archive],
    gated: Archive,
    release: str,
    replicas: dict[str, BackendProcess],
    gate_value: str,
) -> None:
    api = Api(front.url)
    flow = Flow(api)
    prod = stack.kubeconfig("prod")
    helm.run(prod, *upgrade_args(release, charts["1.1.0"]))  # prod: revision 1
    victim, survivor = list(replicas)
    carol = logins.fresh("carol")
    promo = flow.start(
        carol, release, gated, ["staging", "prod"], timeoutSeconds=600,
        set={"prod": [f"gate={gate_value}"]},
    )  # fmt: skip
    name = promo["metadata"]["name"]
    promo = flow.awaiting(carol, promo, "prod")
    assert step_of(promo, "staging")["phase"] == "Succeeded", promo["status"]
    stack.kubectl("mgmt", "label", "promotion.scipian.io", name, f"{SHARD}={victim.split('-')[-1]}")
    give_lease(stack, name, victim)

    dave = logins.fresh("dave")
    digest = step_of(promo, "prod")["renderDigest"]
    approved = api.approve(dave, name, "prod", "go", digest)
    assert approved.status_code == 200, approved.text
    promo = flow.until(
        carol,
        approved.json(),
        lambda p: (
            step_of(p, "prod")["phase"] == "Deploying"
            and step_of(p, "prod").get("executedBy") == victim
        ),
    )
    wait_for(
        "the victim's helm upgrade under way (pending-upgrade)",
        lambda: history(helm, prod, release)[-1]["status"] == "pending-upgrade",
        60,
    )
    assert helm_processes(release)

    os.kill(replicas[victim].process.pid, signal.SIGKILL)
    replicas[victim].process.wait(10)
    wait_for("the victim's helm gone with it", lambda: helm_processes(release) == [], 10)
    assert history(helm, prod, release)[-1]["status"] == "pending-upgrade"
    # the node the re-run's pods need (the dead run's could not schedule)
    stack.kubectl("prod", "label", "node", "kwok-node-0", f"{GATE}={gate_value}")

    promo = flow.finished(carol, promo, bound=180)
    step = step_of(promo, "prod")
    assert promo["status"]["phase"] == "Succeeded", promo["status"]
    assert step["executedBy"] not in ("", victim)
    assert step["recovery"] == (
        f"pending-upgrade (revision 2) rolled back to revision 1 by {step['executedBy']}"
    )
    revisions = history(helm, prod, release)
    # revision 2 keeps helm's pending record (helm rollback leaves it); 3 is the rollback
    assert [(h["revision"], h["description"]) for h in revisions[1:3]] == [
        (2, "Preparing upgrade"),
        (3, "Rollback to 1"),
    ]
    newest = revisions[-1]
    assert (newest["revision"], newest["status"], newest["chart"]) == (
        step["revision"],
        "deployed",
        "shop-web-1.5.0",
    )
    assert survivor in replicas  # the survivor stayed up as a replica throughout
    assert replicas[survivor].process.poll() is None
    assert front.states()[victim] == "DOWN"  # out of rotation: every call went to the other

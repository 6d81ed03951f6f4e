"""Nothing left behind (issue #28 item 3; backend/scipian_backend/cleanup/), on the stack.

Objects of this test's own users and names are made to look old by the clusters' admins
(an identity's last-issued day, a session's expiry, a record's finish time, an Event's
time); ONE pass of `python -m scipian_backend cleanup` without `--advance-seconds` then
removes them, and only them: live objects made in the same test survive, and with the
default idle time and retention nothing of other tests qualifies. A backend of the test's
own (its own periodic Lease, a worker selector that claims nothing) shows the worker room
running the same pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from scipian_backend.identity import names
from tests.conftest import Stack
from tests.helpers import wait_for
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend

pytestmark = pytest.mark.stack
SESSIONS = "scipian-sessions"
CLIENT_ID = "kubectl-scipian"
LONG_AGO = "2020-01-01T00:00:00Z"
FAR_AHEAD = "2099-01-01T00:00:00Z"
BACKEND_NS = "scipian-system"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@dataclass
class World:
    stack: Stack
    issuer: StaticIssuer
    backend: BackendProcess
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    users: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)  # made by the admin
    promotions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)

    def user(self, role: str) -> str:
        email = f"t-clean-{self.suffix}-{role}@example.test"
        self.users.append(f"oidc:{email}")
        return email

    def issue(self, email: str, url: str | None = None) -> None:
        token = self.issuer.sign(self.issuer.claims(email, ["team-a"], CLIENT_ID))
        r = http().post(
            f"{url or self.backend.url}/api/v1/environments/dev/kubeconfig",
            headers={"Authorization": f"Bearer {token}"},
            json={},
            timeout=60,
        )
        assert r.status_code == 200, r.text

    def json(self, cluster: str, *args: str) -> dict[str, Any]:
        out = self.stack.kubectl(cluster, *args, "-o", "json").stdout
        doc: dict[str, Any] = json.loads(out)
        return doc

    def of_user(self, kind: str, email: str) -> list[dict[str, Any]]:
        selector = f"{names.USER_HASH_LABEL}={names.user_hash('oidc:' + email)}"
        return list(self.json("dev", "get", kind, "-n", SESSIONS, "-l", selector)["items"])

    def account(self, email: str) -> str:
        return names.IdentityKey("dev", "read", f"oidc:{email}").account

    def exists(self, cluster: str, *args: str) -> bool:
        r = self.stack.kubectl(cluster, "get", *args, "-o", "name", check=False)
        if r.returncode != 0 and "NotFound" not in r.stderr:
            raise AssertionError(r.stderr)
        return r.returncode == 0

    def make_old(self, email: str) -> None:
        """The identity of email looks last issued in 2020."""
        self.stack.kubectl(
            "dev", "annotate", "--overwrite", "serviceaccount", self.account(email), "-n",
            SESSIONS, f"{names.LAST_ISSUED_DAY_ANNOTATION}=2020-01-01",
        )  # fmt: skip

    def identity(self, source: str, user: str) -> str:
        """An identity of `source` made by the admin, last issued in 2020."""
        key = names.IdentityKey("dev", "read", user, source)
        doc = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": key.account,
                "namespace": SESSIONS,
                "labels": key.labels(),
                "annotations": {
                    **key.annotations(),
                    names.LAST_ISSUED_DAY_ANNOTATION: "2020-01-01",
                },
            },
        }
        self.stack.kubectl("dev", "create", "-f", "-", input=json.dumps(doc))
        self.accounts.append(key.account)
        return key.account

    def record(self, plural: str, name: str, body: dict[str, Any], status: dict[str, Any]) -> None:
        kind = {"promotions": "Promotion", "accessrequests": "AccessRequest"}[plural]
        doc = {"apiVersion": "scipian.io/v1alpha1", "kind": kind, **body}
        doc["metadata"] = {"name": name, **doc.get("metadata", {})}
        self.stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(doc))
        (self.promotions if plural == "promotions" else self.requests).append(name)
        self.stack.kubectl(
            "mgmt", "patch", plural, name, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip

    def promotion(self, name: str, phase: str) -> None:
        spec = {
            "release": f"t-clean-{self.suffix}",
            "namespace": "t-clean",
            "through": ["dev"],
            "rollbackTo": 1,
            "initiator": {"user": self.users[0]},
            "justification": "cleanup test",
        }
        self.record(
            "promotions", name, {"spec": spec}, {"phase": phase, "lastTransition": LONG_AGO}
        )

    def access_request(self, name: str, requester: str, status: dict[str, Any]) -> None:
        body = {
            "metadata": {"finalizers": ["scipian.io/access-request"]},
            "spec": {
                "environment": "dev",
                "level": "read",
                "durationSeconds": 3600,
                "justification": "cleanup test",
                "requester": {"user": requester},
            },
        }
        self.record("accessrequests", name, body, {"lastTransition": LONG_AGO, **status})

    def event(self, name: str, when: str) -> None:
        doc = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {
                "apiVersion": "scipian.io/v1alpha1",
                "kind": "Environment",
                "name": "dev",
            },
            "reason": "CredentialsIssued",
            "message": "cleanup test",
            "type": "Normal",
            "source": {"component": "scipian-backend"},
            "firstTimestamp": when,
            "lastTimestamp": when,
            "count": 1,
        }
        self.stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(doc))
        self.events.append(name)

    def remove_all(self) -> None:
        k = self.stack.kubectl
        for user in self.users:
            selector = f"{names.USER_HASH_LABEL}={names.user_hash(user)}"
            for kind in ("clusterrolebindings", "rolebindings"):
                k("dev", "delete", kind, "-A", "-l", selector, "--wait=false", check=False)
            for kind in ("secrets", "serviceaccounts"):
                k(
                    "dev",
                    "delete",
                    kind,
                    "-n",
                    SESSIONS,
                    "-l",
                    selector,
                    "--wait=false",
                    check=False,
                )
        for sa in self.accounts:
            k("dev", "delete", "serviceaccount", sa, "-n", SESSIONS, "--wait=false", check=False)
        for name in self.requests:
            k("mgmt", "patch", "accessrequests", name, "--type=merge",
              "-p", '{"metadata":{"finalizers":null}}', check=False)  # fmt: skip
            k("mgmt", "delete", "accessrequests", name, "--wait=false", check=False)
        for name in self.promotions:
            k("mgmt", "delete", "promotions", name, "--wait=false", check=False)
        for name in self.events:
            k("mgmt", "delete", "event", name, "-n", "default", "--wait=false", check=False)
        for name in self.leases:
            k("mgmt", "delete", "lease", name, "-n", BACKEND_NS, "--wait=false", check=False)


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[World]:
    issuer = StaticIssuer()
    backend = spawn_backend(issuer.issuer, CLIENT_ID, name="cleanup")
    w = World(stack, issuer, backend)
    try:
        yield w
    finally:
        backend.stop()
        issuer.stop()
        w.remove_all()


def one_pass(stack: Stack) -> tuple[dict[str, int], str]:
    r = subprocess.run(
        [sys.executable, "-m", "scipian_backend", "cleanup",
         "--kubeconfig", str(stack.kubeconfig("mgmt"))],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    counts: dict[str, int] = json.loads(r.stdout)
    return counts, r.stderr


def test_one_pass_removes_what_looks_old_and_nothing_live(world: World) -> None:
    w = world
    old, live = w.user("old"), w.user("live")
    w.issue(old)
    w.issue(live)
    w.issue(live)
    # Old: the identity of `old` (its ServiceAccount, its binding, its session Secret).
    w.make_old(old)
    old_sa = w.account(old)
    assert len(w.of_user("secrets", old)) == 1
    bindings = w.json("dev", "get", "clusterrolebindings", "-l", names.identity_selector(old_sa))
    assert len(bindings["items"]) == 1
    # One of live's two sessions expired; its identity was issued today.
    expired, kept = (s["metadata"]["name"] for s in w.of_user("secrets", live))
    w.stack.kubectl(
        "dev", "annotate", "--overwrite", "secret", expired, "-n", SESSIONS,
        f"{names.EXPIRES_ANNOTATION}={LONG_AGO}",
    )  # fmt: skip
    # Records: one finished long ago of each kind; a Promotion still running and a request
    # approved with its window open, both old, whose identities (old too) are kept.
    busy, done = f"t-clean-{w.suffix}-busy", f"t-clean-{w.suffix}-done"
    w.promotion(busy, "Running")
    w.promotion(done, "Succeeded")
    ended, open_ = f"t-clean-{w.suffix}-ended", f"t-clean-{w.suffix}-open"
    w.access_request(ended, f"oidc:{old}", {"phase": "Ended", "endedAt": LONG_AGO})
    w.access_request(open_, f"oidc:{live}", {"phase": "Approved", "expiresAt": FAR_AHEAD})
    kept_for_promotion = w.identity(f"promotion:{busy}:dev", f"oidc:{old}")
    kept_for_request = w.identity(names.request_source(open_), f"oidc:{live}")
    gone_with_promotion = w.identity(f"promotion:{done}:dev", f"oidc:{old}")
    # Events: one from 2020, one of now.
    old_event, new_event = f"dev.t-clean-{w.suffix}-old", f"dev.t-clean-{w.suffix}-new"
    w.event(old_event, LONG_AGO)
    w.event(new_event, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    counts, log = one_pass(w.stack)

    # What looked old is gone.
    assert not w.exists("dev", "serviceaccount", old_sa, "-n", SESSIONS)
    assert not w.of_user("secrets", old)
    assert not w.json("dev", "get", "clusterrolebindings", "-l", names.identity_selector(old_sa))[
        "items"
    ]
    assert not w.exists("dev", "serviceaccount", gone_with_promotion, "-n", SESSIONS)
    assert not w.exists("dev", "secret", expired, "-n", SESSIONS)
    assert not w.exists("mgmt", "promotions", done)
    assert not w.exists("mgmt", "accessrequests", ended)  # not left Terminating
    assert not w.exists("mgmt", "event", old_event, "-n", "default")
    # What is live stayed.
    assert w.exists("dev", "serviceaccount", w.account(live), "-n", SESSIONS)
    assert w.exists("dev", "secret", kept, "-n", SESSIONS)
    assert w.exists("dev", "serviceaccount", kept_for_promotion, "-n", SESSIONS)
    assert w.exists("dev", "serviceaccount", kept_for_request, "-n", SESSIONS)
    assert w.exists("mgmt", "promotions", busy)
    assert w.exists("mgmt", "accessrequests", open_)
    assert w.exists("mgmt", "event", new_event, "-n", "default")
    # The counts include these (other tests' expired sessions may be counted beside).
    assert counts["serviceAccounts"] >= 2
    assert counts["sessionSecrets"] >= 2
    assert counts["bindings"] >= 1
    assert counts["promotions"] >= 1
    assert counts["accessRequests"] >= 1
    assert counts["events"] >= 1
    assert counts["targets"] >= 1 and counts["failedTargets"] == 0
    # One log line says the same numbers.
    [line] = [x for x in log.splitlines() if x.startswith("cleanup: removed")]
    said = dict(re.findall(r"(\w+) (\d+)", line.split(" in ")[0]))
    assert {k: int(v) for k, v in said.items()} == counts


def metric(url: str, kind: str) -> float | None:
    """The backend's counter of `kind` (None before its first pass ended)."""
    text = http().get(f"{url}/metrics", timeout=10).text
    found = re.search(rf'^scipian_cleanup_removed_total{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


def test_the_worker_room_runs_the_pass(world: World) -> None:
    w = world
    lease = f"scipian-test-cleanup-{w.suffix}"
    w.leases.append(lease)
    # Its own periodic Lease (the stack's replicas hold scipian-worker) and a selector
    # that no Promotion or AccessRequest matches: it runs the periodic tasks, claims no
    # work. With the default idle time and retention its passes remove only what looks old.
    backend = spawn_backend(
        w.issuer.issuer,
        CLIENT_ID,
        name="cleanup-worker",
        worker=True,
        extra=(
            "--cleanup-interval-seconds=2",
            f"--worker-periodic-lease={lease}",
            f"--worker-selector=scipian.io/t-clean={w.suffix}",
        ),
    )
    try:
        idle = w.user("idle")
        w.issue(idle, backend.url)
        sa = w.account(idle)
        wait_for("a first pass", lambda: metric(backend.url, "serviceAccounts") is not None)
        before = metric(backend.url, "serviceAccounts") or 0.0
        assert w.exists("dev", "serviceaccount", sa, "-n", SESSIONS)  # issued today: kept
        w.make_old(idle)
        wait_for(
            "the idle identity removed",
            lambda: not w.exists("dev", "serviceaccount", sa, "-n", SESSIONS),
            timeout=60,
        )
        wait_for(
            "the counter to count it",
            lambda: (metric(backend.url, "serviceAccounts") or 0.0) >= before + 1,
            timeout=30,
        )
        # Each pass logs one line of counts; the one that removed it says so.
        lines = re.findall(r"^cleanup: removed .*$", backend.log_path.read_text(), re.M)
        assert any(re.search(r"serviceAccounts [1-9]", x) for x in lines), lines[-3:]
    finally:
        backend.stop()

"""The listing's flat cost (issue #28 item 2; docs/backend.md "Listing environments"): the
RBAC index chooses the candidates, a SubjectAccessReview confirms each, one review
without a name answers "every environment", and the reviews per listing do not grow with
the number of Environments.

A backend of this module's own, with a username and groups prefix of its own (`lscale:`):
the people logging in are the stack's, but as `lscale:alice@example.test` they hold only
the grants this module writes. It registers Environments of its own (aliases of dev,
`t-lscale-*`) and removes them, and its ClusterRoles and bindings, at its end. The
reviews are counted by the backend's own `scipian_subject_access_reviews_total`: only this
module calls that backend, one request at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import registered_environments, wait_for
from tests.prometheus_text import sample
from tests.stack import clusters
from tests.stack.backend_daemon import (
    BACKEND_NS,
    BackendProcess,
    admin_cli,
    free_port,
    mgmt_kubeconfig,
    serve_argv,
    spawn_backend,
)
from tests.stack.paths import ROOT

pytestmark = pytest.mark.stack

PREFIX = "lscale:"
ALICE = f"{PREFIX}alice@example.test"
BOB = f"{PREFIX}bob@example.test"
ENVS = tuple(f"t-lscale-{i:02d}" for i in range(1, 7))
MORE = tuple(f"t-lscale-x{i:02d}" for i in range(1, 5))  # registered by the growth test
GRANTED = ENVS[:3]  # alice's by name
RBAC = "rbac.authorization.k8s.io"


def read_grant(name: str, subject: dict[str, str], envs: tuple[str, ...] = ()) -> list[Any]:
    """A ClusterRole (get environments/kubeconfig; on `envs` by name, else on every one)
    and its binding to `subject`."""
    rule: dict[str, Any] = {
        "apiGroups": ["scipian.io"],
        "resources": ["environments/kubeconfig"],
        "verbs": ["get"],
    }
    if envs:
        rule["resourceNames"] = list(envs)
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [rule],
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [subject],
        },
    ]


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "User", "name": name}


def as_list(items: list[Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def register(names: tuple[str, ...]) -> None:
    def one(name: str) -> str | None:
        out = admin_cli(
            "register",
            f"--name={name}",
            f"--kubeconfig={clusters.admin_kubeconfig('dev')}",
            "--description=dev, again (listing scale test)",
        )
        return out.stderr.strip() if out.returncode != 0 else None

    with ThreadPoolExecutor(4) as pool:
        errors = [e for e in pool.map(one, names) if e]
    assert not errors, errors[0]


def unregister(names: tuple[str, ...]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: admin_cli("unregister", f"--name={n}"), names))


@pytest.fixture(scope="module")
def world(stack: Stack) -> Iterator[None]:
    """The module's Environments and grants: alice reads GRANTED by name, bob every one."""
    grants = as_list(
        read_grant("t-lscale-alice", user(ALICE), GRANTED) + read_grant("t-lscale-bob", user(BOB))
    )
    try:
        register(ENVS)
        stack.kubectl("mgmt", "apply", "-f", "-", input=grants)
        yield
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=grants, check=False)
        unregister(ENVS + MORE)


@pytest.fixture(scope="module")
def api(stack: Stack, world: None) -> Iterator[Api]:
    issuer, client = stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"]
    backend: BackendProcess = spawn_backend(
        issuer,
        client,
        [f"--username-prefix={PREFIX}", f"--groups-prefix={PREFIX}"],
        name="listing-scale",
    )
    try:
        yield Api(backend.url)
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


def listed(api: Api, logins: Logins, who: str) -> list[str]:
    r = api.call("GET", "/api/v1/environments", str(logins.token(who)))
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def reviews(api: Api) -> tuple[float, float]:
    """(named, without a name) reviews this backend asked so far."""
    text = requests.get(f"{api.url}/metrics", timeout=10).text
    name = "scipian_subject_access_reviews_total"
    return sample(text, name, scope="named"), sample(text, name, scope="all")


def counted(api: Api, logins: Logins, who: str) -> tuple[list[str], tuple[float, float]]:
    """One listing, and the reviews it asked."""
    logins.token(who)  # a login first: the listing alone is counted
    before = reviews(api)
    ids = listed(api, logins, who)
    after = reviews(api)
    return ids, (after[0] - before[0], after[1] - before[1])


def test_a_user_granted_by_name_sees_exactly_those(api: Api, logins: Logins) -> None:
    assert listed(api, logins, "alice") == list(GRANTED)


def test_a_nameless_grant_lists_every_environment(stack: Stack, api: Api, logins: Logins) -> None:
    before = registered_environments(stack)
    ids, (named, nameless) = counted(api, logins, "bob")
    now = registered_environments(stack)
    assert set(ENVS) <= set(ids) and ids == sorted(ids)
    # Every Environment that stayed registered, nothing that was not (another module may
    # register or remove its own meanwhile).
    assert set(before) & set(now) <= set(ids) <= set(before) | set(now)
    # One review without a name for reads (allowed), one for deploy (refused), and none
    # per Environment: bob holds no grant by name.
    assert (named, nameless) == (0, 2)


def test_reviews_per_listing_do_not_grow_with_environments(
    stack: Stack, api: Api, logins: Logins
) -> None:
    ids, first = counted(api, logins, "alice")
    assert ids == list(GRANTED)
    # Two reviews without a name (read, deploy), one per granted candidate.
    assert first == (len(GRANTED), 2)
    register(MORE)
    # The cache has them once bob, who reads every environment, is listed them.
    wait_for(
        "the new Environments in the backend's cache",
        lambda: set(MORE) <= set(listed(api, logins, "bob")),
        30,
    )
    ids, second = counted(api, logins, "alice")
    assert ids == list(GRANTED)
    assert second == first


def test_a_grant_added_is_listed_once_its_watch_event_arrives(
    stack: Stack, api: Api, logins: Logins
) -> None:
    extra = as_list(read_grant("t-lscale-alice-more", user(ALICE), (ENVS[3],)))
    stack.kubectl("mgmt", "apply", "-f", "-", input=extra)
    try:
        wait_for(
            "the added grant in alice's listing",
            lambda: listed(api, logins, "alice") == [*GRANTED, ENVS[3]],
            30,
        )
        # Removed: the candidate's own review refuses it in the very next listing,
        # whether or not the index has seen the binding go.
        stack.kubectl("mgmt", "delete", "clusterrolebinding", "t-lscale-alice-more", "--wait=true")
        assert listed(api, logins, "alice") == list(GRANTED)
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=extra, check=False)


def test_candidates_are_confirmed_never_answered_by_the_index(
    stack: Stack, api: Api, logins: Logins
) -> None:
    """A binding to system:authenticated makes an environment a candidate for every caller
    in the index, but a review about the caller (their own groups) does not allow it: the
    review is asked, and the environment stays out."""
    everyone = {"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"}
    extra = as_list(read_grant("t-lscale-everyone", everyone, (ENVS[4],)))
    _, before = counted(api, logins, "alice")
    stack.kubectl("mgmt", "apply", "-f", "-", input=extra)
    try:
        found: list[Any] = []

        def asked() -> bool:
            found[:] = counted(api, logins, "alice")
            return bool(found[1][0] == before[0] + 1)

        wait_for("one more review for the new candidate", asked, 30)
        assert found[0] == list(GRANTED)
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=extra, check=False)


READY_SA = "t-lscale-ready"


def readyz(url: str) -> int | None:
    try:
        return requests.get(f"{url}/readyz", timeout=10).status_code
    except requests.ConnectionError:
        return None


def _identity_without_rbac_reads(stack: Stack, kubeconfig: Path) -> str:
    """A ServiceAccount of this test's own with the backend's ClusterRole minus the RBAC
    index's `list`/`watch` on ClusterRoles and bindings, and a kubeconfig for it."""
    from scipian_backend.environments import apply

    role = next(d for d in apply.manifest("rbac.yaml") if d["kind"] == "ClusterRole")
    rules = [r for r in role["rules"] if RBAC not in r["apiGroups"]]
    assert len(rules) == len(role["rules"]) - 1
    ns = BACKEND_NS
    items = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": READY_SA, "namespace": ns},
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": READY_SA},
            "rules": rules,
        },
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": READY_SA},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": READY_SA},
            "subjects": [{"kind": "ServiceAccount", "name": READY_SA, "namespace": ns}],
        },
    ]
    stack.kubectl("mgmt", "apply", "-f", "-", input=as_list(items))
    token = stack.kubectl("mgmt", "create", "token", READY_SA, "-n", ns, "--duration=1h")
    doc = yaml.safe_load(mgmt_kubeconfig().read_text())
    for u in doc["users"]:
        u["user"] = {"token": token.stdout.strip()}
    kubeconfig.touch(mode=0o600)
    kubeconfig.write_text(json.dumps(doc))
    return as_list(items)


def test_not_ready_until_the_rbac_index_is_listed(stack: Stack, tmp_path: Path) -> None:
    """A replica that cannot list mgmt's ClusterRoles is not ready (its listing would be
    blind to grants by name); once it may, it lists them and becomes ready."""
    kubeconfig = tmp_path / "mgmt.kubeconfig"
    made = _identity_without_rbac_reads(stack, kubeconfig)
    may_list = as_list(
        [
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"{READY_SA}-rbac"},
                "rules": [
                    {
                        "apiGroups": [RBAC],
                        "resources": ["clusterroles", "clusterrolebindings"],
                        "verbs": ["list", "watch"],
                    }
                ],
            },
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{READY_SA}-rbac"},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"{READY_SA}-rbac"},
                "subjects": [{"kind": "ServiceAccount", "name": READY_SA, "namespace": BACKEND_NS}],
            },
        ]
    )
    port = free_port()
    argv = serve_argv(
        stack.env["STACK_IDP_ISSUER"],
        stack.env["STACK_IDP_CLIENT_ID"],
        port,
        "--no-worker",
        "--cache-ready-seconds=1",
        ui=False,
    )
    argv[argv.index(f"--mgmt-kubeconfig={mgmt_kubeconfig()}")] = f"--mgmt-kubeconfig={kubeconfig}"
    log = tmp_path / "backend.log"
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        wait_for(
            "the refused list of ClusterRoles in the log",
            lambda: "rbac index: watching clusterroles failed (HTTP 403)" in log.read_text(),
            60,
        )
        # Listening once the start's bounded wait for the caches is over; not ready.
        wait_for("/readyz answering", lambda: readyz(url) is not None, 60)
        assert readyz(url) == 503
        stack.kubectl("mgmt", "apply", "-f", "-", input=may_list)
        wait_for("/readyz answering 200", lambda: readyz(url) == 200, 60)
    finally:
        process.terminate()
        process.wait(30)
        for manifest in (may_list, made):
            stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)

"""The access request API against the real stack, as a hostile client over raw HTTP with
real logins (docs/api.md "Access requests"; change.md §9).

The module registers `t-areq` of its own on the dev cluster (deploy namespace `t-areq`,
two approvals, windows of at most MAX_ACCESS seconds, logins no older than MAX_AGE seconds
for approvers) and grants bob `request-deploy` and `request-read`, carol and dave `approve`
there (carol, platform-admins, may also request deploy everywhere); alice gets nothing
there. Everything is removed at its end. Tests assert only on requests they created.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import backend_log_lines, env_grant, wait_for
from tests.stack.backend_daemon import admin_cli
from tests.stack.paths import ROOT

pytestmark = pytest.mark.stack

ENV = "t-areq"
MAX_ACCESS = 900  # t-areq's maxAccessSeconds
MAX_AGE = 20  # t-areq's step-up: an approver's login older than this is stale
BOB = "oidc:bob@example.test"
CAROL = "oidc:carol@example.test"
DAVE = "oidc:dave@example.test"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def grants() -> dict[str, Any]:
    items = (
        env_grant("t-areq-request-deploy", "request-deploy", BOB, [ENV])
        + env_grant("t-areq-request-read", "request-read", BOB, [ENV])
        + env_grant("t-areq-approve-carol", "approve", CAROL, [ENV])
        + env_grant("t-areq-approve-dave", "approve", DAVE, [ENV])
    )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def delete_requests(stack: Stack, env: str) -> None:
    """Every AccessRequest on `env`: the finalizer dropped first (the test's own cleanup;
    the worker would otherwise delete their sessions first, and there are none)."""
    out = stack.kubectl(
        "mgmt", "get", "accessrequests.scipian.io", "-l", f"scipian.io/environment={env}",
        "-o", "name",
    )  # fmt: skip
    for name in out.stdout.split():
        stack.kubectl(
            "mgmt", "patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
            check=False,
        )  # fmt: skip
        stack.kubectl("mgmt", "delete", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def areq_env(stack: Stack) -> Iterator[str]:
    out = admin_cli(
        "register",
        f"--name={ENV}",
        f"--kubeconfig={stack.kubeconfig('dev')}",
        "--description=access request test",
        f"--deploy-namespace={ENV}",
        f"--max-auth-age={MAX_AGE}",
        "--approvals=2",
        f"--max-access-seconds={MAX_ACCESS}",
    )
    assert out.returncode == 0, out.stderr
    manifest = json.dumps(grants())
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield ENV
    finally:
        delete_requests(stack, ENV)
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)
        stack.kubectl("mgmt", "delete", "environment", ENV, "--wait=false", check=False)
        stack.kubectl("dev", "delete", "namespace", ENV, "--wait=false", check=False)


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


def ask(api: Api, token: str, env: str = ENV, **body: Any) -> requests.Response:
    doc = {"level": "deploy", "durationSeconds": 600, "justification": "areq test", **body}
    return api.call("POST", f"/api/v1/environments/{env}/accessrequests", token, doc)


def created(api: Api, token: str, env: str = ENV, **body: Any) -> dict[str, Any]:
    r = ask(api, token, env, **body)
    assert r.status_code == 201, r.text
    obj: dict[str, Any] = r.json()
    return obj


def act(api: Api, token: str, name: str, what: str, why: str = "areq test") -> requests.Response:
    return api.call("POST", f"/api/v1/accessrequests/{name}/{what}", token, {"justification": why})


def get(api: Api, token: str, name: str) -> requests.Response:
    return api.call("GET", f"/api/v1/accessrequests/{name}", token)


def listed(api: Api, token: str, **params: str) -> list[str]:
    r = api.call("GET", "/api/v1/accessrequests", token, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["apiVersion"], body["kind"]) == ("v1", "List")
    assert all("managedFields" not in i["metadata"] for i in body["items"])
    return [i["metadata"]["name"] for i in body["items"]]


def stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP)


def audit_lines(stack: Stack, name: str, count: int) -> list[dict[str, Any]]:
    """The access_request lines about `name` in the stack's merged backend log (every
    replica's), once at least `count` are there."""

    def about(line: dict[str, Any]) -> bool:
        return line.get("event") == "access_request" and (
            (line.get("accessRequest") or {}).get("name") == name
        )

    return backend_log_lines(stack, about, count)


def events(stack: Stack, name: str) -> list[dict[str, Any]]:
    out = stack.kubectl(
        "mgmt", "get", "events", "-n", "default",
        f"--field-selector=involvedObject.name={name},involvedObject.kind=AccessRequest",
        "-o", "json",
    )  # fmt: skip
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


# --- creating -------------------------------------------------------------------------------


def test_create_writes_a_pending_request_with_the_environments_rules(
    stack: Stack, api: Api, logins: Logins, areq_env: str
) -> None:
    obj = created(api, logins.token("bob"), justification="INC-1 checkout down")
    meta, spec, status = obj["metadata"], obj["spec"], obj["status"]
    name = meta["name"]
    assert re.fullmatch(r"t-areq-deploy-[a-z0-9]{5}", name)
    assert meta["labels"]["scipian.io/environment"] == ENV
    assert meta["labels"]["scipian.io/level"] == "deploy"
    assert re.fullmatch(r"[0-9a-f]{20}", meta["labels"]["scipian.io/user-hash"])
    assert meta["finalizers"] == ["scipian.io/access-request"]
    assert "managedFields" not in meta
    assert spec == {
        "environment": ENV,
        "level": "deploy",
        "namespaces": [ENV],  # all of the environment's deploy namespaces by default
        "durationSeconds": 600,
        "justification": "INC-1 checkout down",
        "requester": {"user": BOB, "groups": ["oidc:team-b"]},
    }
    assert status["phase"] == "Pending"
    assert status["approvalsRequired"] == 2  # t-areq's deploy.approvals.required
    assert status["approvals"] == []
    pending = stamp(status["expiresAt"]) - stamp(meta["creationTimestamp"])
    assert timedelta(hours=24) <= pending <= timedelta(hours=24, seconds=5)
    # what the cluster holds is what was answered
    out = stack.kubectl("mgmt", "get", "accessrequest", name, "-o", "json")
    assert json.loads(out.stdout)["status"] == status


def test_a_duration_beyond_max_access_seconds_is_refused(
    api: Api, logins: Logins, areq_env: str
) -> None:
    bob = logins.token("bob")
    refused = ask(api, bob, durationSeconds=MAX_ACCESS + 1)
    assert refused.status_code == 400, refused.text
    assert refused.json() == {
        "reason": "BadRequest",
        "message": f"durationSeconds {MAX_ACCESS + 1} is longer than {ENV} allows "
        f"(maxAccessSeconds {MAX_ACCESS})",
    }
    obj = created(api, bob, durationSeconds=MAX_ACCESS)
    assert obj["spec"]["durationSeconds"] == MAX_ACCESS
    # and the schema's own bounds, before anything is asked
    for seconds in (59, 604801, "600", 600.5):
        assert ask(api, bob, durationSeconds=seconds).status_code == 400


def test_update_changes_max_access_seconds_and_register_bounds_it(
    stack: Stack, api: Api, logins: Logins, areq_env: str
) -> None:
    kubeconfig = f"--kubeconfig={stack.kubeconfig('dev')}"
    refused = admin_cli("update", f"--name={ENV}", kubeconfig, "--max-access-seconds=59")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "scipian-backend: --max-access-seconds must be between 60 and 604800 seconds"
    ]
    bob = logins.token("bob")
    assert ask(api, bob, durationSeconds=MAX_ACCESS + 60).status_code == 400
    out = admin_cli(
        "update", f"--name={ENV}", kubeconfig, f"--max-access-seconds={MAX_ACCESS + 60}"
    )
    assert out.returncode == 0, out.stderr
    try:
        assert created(api, bob, durationSeconds=MAX_ACCESS + 60)["spec"]["durationSeconds"] == (
            MAX_ACCESS + 60
        )
        listed_json = json.loads(admin_cli("list", "-o", "json").stdout)
        [mine] = [e for e in listed_json["items"] if e["id"] == ENV]
        assert mine["maxAccessSeconds"] == MAX_ACCESS + 60
    finally:
        out = admin_cli("update", f"--name={ENV}", kubeconfig, f"--max-access-seconds={MAX_ACCESS}")
        assert out.returncode == 0, out.stderr
    assert ask(api, bob, durationSeconds=MAX_ACCESS + 60).status_code == 400


def test_namespaces_outside_the_environments_deploy_namespaces_are_refused(
    api: Api, logins: Logins, areq_env: str
) -> None:
    bob = logins.token("bob")
    for namespaces in (["shop"], [ENV, "kube-system"]):
        refused = ask(api, bob, namespaces=namespaces)
        assert refused.status_code == 400, refused.text
        assert "does not deploy to namespace(s)" in refused.json()["message"]
    assert created(api, bob, namespaces=[ENV])["spec"]["namespaces"] == [ENV]
    # a read request names no namespaces
    read = ask(api, bob, level="read", namespaces=[ENV])
    assert read.status_code == 400
    assert read.json()["message"] == "namespaces are for deploy requests only"
    assert "namespaces" not in created(api, bob, level="read")["spec"]


@pytest.mark.parametrize(
    ("who", "env", "level"),
    [
        ("mallory", ENV, "deploy"),
        ("mallory", "prod", "deploy"),
        ("mallory", "t-areq-nowhere", "read"),  # never registered: the same 403
        ("alice", ENV, "deploy"),  # team-a may request deploy on dev only
        ("alice", "prod", "deploy"),
        ("bob", "prod", "read"),  # team-b: read on staging, deploy on prod
        ("bob", "dev", "deploy"),
    ],
)
def test_no_request_grant_is_403_before_existence(
    api: Api, logins: Logins, areq_env: str, who: str, env: str, level: str
) -> None:
    refused = ask(api, logins.token(who), env, level=level)
    assert refused.status_code == 403, refused.text
    username = f"oidc:{who}@example.test"
    assert refused.json() == {
        "reason": "Forbidden",
        "message": f"{username} may not request {level} access to {env}",
    }


# --- who sees what ----------------------------------------------------------------------------


def test_requesters_see_their_own_approvers_what_they_may_approve_others_nothing(
    api: Api, logins: Logins, areq_env: str
) -> None:
    name = created(api, logins.token("bob"))["metadata"]["name"]
    missing = f"t-areq-deploy-{uuid.uuid4().hex[:5]}"
    for who in ("bob", "dave", "carol"):  # the requester, the environment's approvers
        seen = get(api, logins.token(who), name)
        assert seen.status_code == 200, (who, seen.text)
        assert seen.json()["metadata"]["name"] == name
        assert "managedFields" not in seen.json()["metadata"]
        assert name in listed(api, logins.token(who))
        assert name in listed(api, logins.token(who), environment=ENV)
        assert name not in listed(api, logins.token(who), environment="prod")
    for who in ("alice", "mallory"):  # neither requester nor approver there
        hidden = get(api, logins.token(who), name)
        absent = get(api, logins.token(who), missing)
        assert (hidden.status_code, absent.status_code) == (404, 404)
        # the same answer as for a request that never existed
        assert hidden.json()["message"].replace(name, "N") == absent.json()["message"].replace(
            missing, "N"
        )
        assert name not in listed(api, logins.token(who))
    assert listed(api, logins.token("mallory")) == []  # mallory may see no request at all
    # an approver of other environments only: alice may approve nowhere, carol not on prod
    assert get(api, logins.token("bob"), missing).status_code == 404


def test_unauthenticated_and_malformed(api: Api, logins: Logins, areq_env: str) -> None:
    assert api.call("GET", "/api/v1/accessrequests", None).status_code == 401
    assert ask(api, "").status_code == 401
    bob = logins.token("bob")
    assert get(api, bob, "Not_A_Name").status_code in (400, 422)
    assert get(api, bob, "a" * 54).status_code in (400, 422)
    bad = api.call(
        "POST",
        f"/api/v1/environments/{ENV}/accessrequests",
        bob,
        {"level": "deploy", "durationSeconds": 600, "justification": "x", "role": "admin"},
    )
    assert bad.status_code == 400
    assert "unknown field" in bad.json()["message"]


# --- decisions --------------------------------------------------------------------------------


def test_self_approval_is_refused_also_to_an_approver(
    api: Api, logins: Logins, areq_env: str
) -> None:
    # carol may approve on t-areq and may request deploy everywhere (platform-admins)
    carol = logins.fresh("carol")
    name = created(api, carol)["metadata"]["name"]
    for what in ("approvals", "denials"):
        refused = act(api, carol, name, what)
        assert refused.status_code == 403, refused.text
        assert refused.json()["message"] == (
            f"{CAROL} may not approve or deny their own request {name}"
        )
    revoke = act(api, carol, name, "revoke")
    assert revoke.status_code == 403
    assert revoke.json()["message"] == f"{CAROL} may not revoke their own request {name}; cancel it"
    assert get(api, carol, name).json()["status"]["approvals"] == []


def test_an_approver_without_the_grant_is_refused(api: Api, logins: Logins, areq_env: str) -> None:
    name = created(api, logins.token("bob"))["metadata"]["name"]
    for who in ("alice", "mallory"):
        token = logins.fresh(who)
        for what in ("approvals", "denials", "revoke"):
            refused = act(api, token, name, what)
            assert refused.status_code == 404, (who, what, refused.text)
    status = get(api, logins.token("bob"), name).json()["status"]
    assert (status["phase"], status["approvals"]) == ("Pending", [])


def test_the_same_approver_twice_counts_once(api: Api, logins: Logins, areq_env: str) -> None:
    name = created(api, logins.token("bob"), durationSeconds=300)["metadata"]["name"]
    dave = logins.fresh("dave")
    first = act(api, dave, name, "approvals", "looks right")
    assert first.status_code == 200, first.text
    assert first.json()["status"]["phase"] == "Pending"
    again = act(api, dave, name, "approvals", "really")
    assert again.status_code == 409
    assert again.json()["message"] == f"{DAVE} already approved {name}"
    status = get(api, dave, name).json()["status"]
    assert [a["user"] for a in status["approvals"]] == [DAVE]
    second = act(api, logins.fresh("carol"), name, "approvals", "agreed")
    assert second.status_code == 200, second.text
    status = second.json()["status"]
    assert status["phase"] == "Approved"
    assert [a["user"] for a in status["approvals"]] == [DAVE, CAROL]
    assert stamp(status["expiresAt"]) - stamp(status["approvedAt"]) == timedelta(seconds=300)
    late = act(api, dave, name, "approvals")
    assert late.status_code == 409
    assert late.json()["message"] == f"access request {name} is Approved"


def test_one_denial_ends_it(api: Api, logins: Logins, areq_env: str) -> None:
    name = created(api, logins.token("bob"))["metadata"]["name"]
    assert act(api, logins.fresh("carol"), name, "approvals").status_code == 200
    denied = act(api, logins.fresh("dave"), name, "denials", "not during the freeze")
    assert denied.status_code == 200, denied.text
    status = denied.json()["status"]
    assert status["phase"] == "Denied"
    assert status["decision"]["user"] == DAVE
    assert status["decision"]["justification"] == "not during the freeze"
    for who in ("carol", "dave"):
        for what in ("approvals", "denials"):
            late = act(api, logins.fresh(who), name, what)
            assert late.status_code == 409, late.text
            assert late.json()["message"] == f"access request {name} is Denied"
    assert get(api, logins.token("bob"), name).json()["status"]["phase"] == "Denied"


def test_an_approvers_login_must_be_fresh(api: Api, logins: Logins, areq_env: str) -> None:
    name = created(api, logins.token("bob"))["metadata"]["name"]
    stale = logins.fresh("dave")
    time.sleep(MAX_AGE + 2)  # t-areq's step-up is MAX_AGE seconds: this login is older
    refused = act(api, stale, name, "approvals")
    assert refused.status_code == 401, refused.text
    challenge = refused.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert f"max_age={MAX_AGE}" in challenge
    assert get(api, logins.token("bob"), name).json()["status"]["approvals"] == []
    assert act(api, logins.fresh("dave"), name, "approvals").status_code == 200


def test_cancel_is_the_requesters_and_revoke_an_approvers(
    api: Api, logins: Logins, areq_env: str
) -> None:
    bob = logins.token("bob")
    pending = created(api, bob)["metadata"]["name"]
    dave = logins.fresh("dave")
    refused = api.call("POST", f"/api/v1/accessrequests/{pending}/cancel", dave, {})
    assert refused.status_code == 403
    assert refused.json()["message"] == f"{DAVE} may not cancel access request {pending}"
    cancelled = api.call("POST", f"/api/v1/accessrequests/{pending}/cancel", bob, None)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"]["phase"] == "Cancelled"
    assert cancelled.json()["status"]["decision"]["user"] == BOB
    again = api.call("POST", f"/api/v1/accessrequests/{pending}/cancel", bob, None)
    assert again.status_code == 409

    approved = created(api, bob)["metadata"]["name"]
    assert act(api, dave, approved, "approvals").status_code == 200
    assert act(api, logins.fresh("carol"), approved, "approvals").status_code == 200
    revoked = act(api, dave, approved, "revoke", "incident over")
    assert revoked.status_code == 200, revoked.text
    status = revoked.json()["status"]
    assert status["phase"] == "Revoked"
    assert status["decision"] == {
        "user": DAVE,
        "justification": "incident over",
        "time": status["endedAt"],
    }
    assert act(api, dave, approved, "revoke").status_code == 409


def test_the_long_poll_answers_at_the_change(api: Api, logins: Logins, areq_env: str) -> None:
    bob = logins.token("bob")
    obj = created(api, bob)
    name, version = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
    # without a change the poll would wait --promotion-watch-seconds (60): the approval
    # below is what ends it, with the object as changed
    with ThreadPoolExecutor(1) as pool:
        poll = pool.submit(
            api.call,
            "GET",
            f"/api/v1/accessrequests/{name}",
            bob,
            None,
            150,
            params={"watch": "true", "resourceVersion": version},
        )
        assert act(api, logins.fresh("dave"), name, "approvals").status_code == 200
        answer = poll.result()
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"]["resourceVersion"] != version
    assert [a["user"] for a in answer.json()["status"]["approvals"]] == [DAVE]
    # another's request cannot be polled either
    hidden = api.call(
        "GET",
        f"/api/v1/accessrequests/{name}",
        logins.token("mallory"),
        params={"watch": "true", "resourceVersion": version},
    )
    assert hidden.status_code == 404


# --- the record --------------------------------------------------------------------------------


def test_every_state_change_is_audited_once_with_one_event(
    stack: Stack, api: Api, logins: Logins, areq_env: str
) -> None:
    why = f"INC-{uuid.uuid4().hex[:8]}"
    name = created(api, logins.token("bob"), justification=why)["metadata"]["name"]
    dave, carol = logins.fresh("dave"), logins.fresh("carol")
    assert act(api, dave, name, "approvals", "first").status_code == 200
    assert act(api, dave, name, "approvals", "twice").status_code == 409  # no change
    assert act(api, carol, name, "approvals", "second").status_code == 200
    assert act(api, dave, name, "revoke", "over").status_code == 200
    assert act(api, dave, name, "revoke", "over again").status_code == 409  # no change
    # audit lines are written before the answer (the merged log gets them a moment later)
    lines = audit_lines(stack, name, 4)
    assert [(x["outcome"], x["user"], x["justification"]) for x in lines] == [
        ("pending", BOB, why),
        ("approval", DAVE, "first"),
        ("approved", CAROL, "second"),
        ("revoked", DAVE, "over"),
    ]
    assert [(x["accessRequest"]["from"], x["accessRequest"]["to"]) for x in lines] == [
        (None, "Pending"),
        ("Pending", "Pending"),
        ("Pending", "Approved"),
        ("Approved", "Revoked"),
    ]
    assert {x["environment"] for x in lines} == {ENV}
    assert {x["accessRequest"]["name"] for x in lines} == {name}
    assert {x["accessRequest"]["requester"] for x in lines} == {BOB}
    # Events are posted in the background: one per change
    expected = [
        "AccessRequestApproval",
        "AccessRequestApproved",
        "AccessRequestPending",
        "AccessRequestRevoked",
    ]
    wait_for("the request's Events", lambda: len(events(stack, name)) >= len(expected))
    got = events(stack, name)
    assert sorted(e["reason"] for e in got) == expected
    assert {e["involvedObject"]["kind"] for e in got} == {"AccessRequest"}
    [revoked] = [e for e in got if e["reason"] == "AccessRequestRevoked"]
    assert revoked["type"] == "Warning"
    assert f"by {DAVE}" in revoked["message"]


def test_kubectl_get_shows_the_printer_columns(
    stack: Stack, api: Api, logins: Logins, areq_env: str
) -> None:
    obj = created(api, logins.token("bob"))
    name = obj["metadata"]["name"]
    out = stack.kubectl("mgmt", "get", "accessrequest", name).stdout.splitlines()
    assert out[0].split() == ["NAME", "ENV", "LEVEL", "REQUESTER", "PHASE", "EXPIRES", "AGE"]
    row = out[1].split()
    assert row[:6] == [name, ENV, "deploy", BOB, "Pending", obj["status"]["expiresAt"]]
    short = stack.kubectl("mgmt", "get", "areq", name, "-o", "name").stdout.strip()
    assert short == f"accessrequest.scipian.io/{name}"


def test_the_spec_never_changes(stack: Stack, api: Api, logins: Logins, areq_env: str) -> None:
    """Even mgmt's admin cannot widen a request after its approval (the CRD refuses)."""
    name = created(api, logins.token("bob"))["metadata"]["name"]
    patch = json.dumps({"spec": {"durationSeconds": 9999}})
    done = stack.kubectl(
        "mgmt", "patch", "accessrequest", name, "--type=merge", "-p", patch, check=False
    )
    assert done.returncode != 0
    assert "never changes" in done.stderr


def test_openapi_and_docs_name_the_same_access_request_routes(api: Api) -> None:
    paths = api.call("GET", "/openapi.json", None).json()["paths"]
    published = {
        f"{method.upper()} {path.replace('{env_id}', '{env}')}"
        for path, ops in paths.items()
        if "accessrequests" in path
        for method in ops
    }
    section = (ROOT / "docs" / "api.md").read_text().split("## Access requests", 1)[1]
    section = section.split("\n## ", 1)[0]
    quoted = re.findall(r"`((?:GET|POST) /api/v1/[^` ]*accessrequests[^` ]*)`", section)
    documented = {route.split("?", 1)[0] for route in quoted}
    assert published == documented
    # create, list, get (and its long poll), approvals, denials, revoke, cancel
    assert len(published) == 7

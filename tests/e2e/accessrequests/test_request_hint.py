"""The refusal's hint (change.md §9, §13): a 403 of `POST /api/v1/environments/{env}/kubeconfig`
carries `requestable: "read"|"deploy"` exactly when RBAC lets the caller ask for access at
the refused level (`create environments/request-<level>`, name = env), decided by that
question alone: a missing environment gets the same body as an existing one.

Raw HTTP with real logins. mallory (no grant) gets the plain RFC body; bob gets
`requestable` where §13 lets him ask (deploy on prod, read on staging), none elsewhere;
carol's PromotionRequired on prod carries it too. The module grants mallory
`create environments/request-read` without resourceNames for one test (its own
ClusterRole and binding, removed at its end): this changes what mallory sees everywhere,
so the file is in SHARED_STATE_FILES.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import wait_for

pytestmark = pytest.mark.stack

MALLORY = "oidc:mallory@example.test"
MISSING = "t-hint-never-registered"  # a constant: test ids must be equal in every xdist worker


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


def ask(api: Api, token: str, env: str, level: str = "read") -> requests.Response:
    body: dict[str, Any] = {"level": level}
    if level == "deploy":
        body["justification"] = "hint test"
    return api.call("POST", f"/api/v1/environments/{env}/kubeconfig", token, body)


def refusal(r: requests.Response) -> dict[str, Any]:
    assert r.status_code == 403, r.text[:300]
    body: dict[str, Any] = r.json()
    return body


def shape(body: dict[str, Any], env: str) -> dict[str, Any]:
    """The body with the environment's id taken out of its message."""
    return {**body, "message": body["message"].replace(env, "ENV")}


def test_mallory_gets_the_plain_refusal_also_for_a_missing_environment(
    api: Api, logins: Logins
) -> None:
    token = logins.token("mallory")
    for env in ("dev", "staging", "prod", MISSING):
        for level in ("read", "deploy"):
            body = refusal(ask(api, token, env, level))
            assert set(body) == {"reason", "message"}, body
            assert body["reason"] == "Forbidden"


@pytest.mark.parametrize(
    ("env", "level", "requestable"),
    [
        ("prod", "deploy", "deploy"),  # bob reads prod; he may ask to deploy there
        ("staging", "read", "read"),
        ("staging", "deploy", None),  # no request-deploy on staging for team-b
        ("dev", "read", None),
        ("dev", "deploy", None),
        (MISSING, "read", None),
        (MISSING, "deploy", None),
    ],
)
def test_bob_is_told_where_he_may_ask(
    api: Api, logins: Logins, env: str, level: str, requestable: str | None
) -> None:
    body = refusal(ask(api, logins.token("bob"), env, level))
    assert body.get("requestable") == requestable, body
    assert set(body) <= {"reason", "message", "requestable"}


def test_promotion_required_carries_the_hint(api: Api, logins: Logins) -> None:
    """carol may deploy everywhere but prod is gated: PromotionRequired, and she may ask
    for a deploy request there (platform-admins: request-deploy on every environment)."""
    body = refusal(ask(api, logins.token("carol"), "prod", "deploy"))
    assert body["reason"] == "PromotionRequired"
    assert body["requestable"] == "deploy"


@pytest.fixture
def mallory_may_ask_read(stack: Stack) -> Iterator[str]:
    name = f"t-hint-{uuid.uuid4().hex[:6]}"
    grant = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name},
                # no resourceNames: every environment id, registered or not
                "rules": [
                    {
                        "apiGroups": ["scipian.io"],
                        "resources": ["environments/request-read"],
                        "verbs": ["create"],
                    }
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": MALLORY}
                ],
            },
        ],
    }
    manifest = json.dumps(grant)
    stack.kubectl("mgmt", "apply", "-f", "-", input=manifest)
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "-f", "-", "--wait=false", input=manifest, check=False)


def test_a_request_grant_without_names_hints_alike_for_existing_and_missing(
    api: Api, logins: Logins, mallory_may_ask_read: str
) -> None:
    token = logins.token("mallory")
    # RBAC's authorizer sees a new binding within moments: a bounded wait, not a timing claim
    wait_for(
        "mallory's request grant to reach RBAC",
        lambda: ask(api, token, MISSING).json().get("requestable") == "read",
        timeout=30,
    )
    existing = refusal(ask(api, token, "staging"))
    missing = refusal(ask(api, token, MISSING))
    assert existing["requestable"] == missing["requestable"] == "read"
    assert shape(existing, "staging") == shape(missing, MISSING)
    # The grant is for reads: a refused deploy asks request-deploy, which she lacks.
    assert "requestable" not in refusal(ask(api, token, "staging", "deploy"))
    assert "requestable" not in refusal(ask(api, token, MISSING, "deploy"))

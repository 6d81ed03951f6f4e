"""The stack's grants on the management cluster (tests/stack/grants.py), asked as the backend
asks: SubjectAccessReviews in group scipian.io, resource environments, name = env id.

The identities are those the backend derives from the provider's id_tokens (user and groups
with the `oidc:` prefix; the groups of each user are checked against the provider in
test_idp.py). The reviews are created by this test as the management cluster's admin; RBAC
alone answers, the backend is not involved.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.stack

GROUPS = {
    "alice": ["team-a"],
    "bob": ["team-b"],
    "carol": ["platform-admins"],
    "dave": ["platform-admins", "release-managers"],
    "mallory": [],
}

# (user, verb, subresource, environment, allowed)
CASES = [
    # reads and the redacted Helm history go together
    *[
        (user, "get", sub, env, allowed)
        for sub in ("kubeconfig", "releases")
        for user, env, allowed in (
            ("alice", "dev", True),
            ("alice", "staging", False),
            ("alice", "prod", False),
            ("bob", "prod", True),
            ("bob", "dev", False),
            ("bob", "staging", False),
            ("carol", "dev", True),
            ("carol", "staging", True),
            ("carol", "prod", True),
            ("dave", "staging", True),
            ("mallory", "dev", False),
            ("mallory", "staging", False),
        )
    ],
    # deploy: team-a on dev, platform-admins everywhere
    ("alice", "create", "deploy", "dev", True),
    ("alice", "create", "deploy", "staging", False),
    ("alice", "create", "deploy", "prod", False),
    ("alice", "get", "deploy", "dev", False),  # create only
    ("bob", "create", "deploy", "dev", False),
    ("bob", "create", "deploy", "prod", False),  # reading prod is not deploying there
    ("carol", "create", "deploy", "dev", True),
    ("carol", "create", "deploy", "staging", True),
    ("carol", "create", "deploy", "prod", True),
    ("carol", "create", "deploy", "not-registered", True),  # every env, as for reads
    ("dave", "create", "deploy", "prod", True),
    ("mallory", "create", "deploy", "dev", False),
    ("mallory", "create", "deploy", "prod", False),
    # approve: release-managers on prod, platform-admins on dev and staging (change.md §13)
    ("dave", "create", "approve", "prod", True),
    ("dave", "create", "approve", "staging", True),
    ("dave", "create", "approve", "dev", True),
    ("carol", "create", "approve", "staging", True),
    ("carol", "create", "approve", "prod", False),
    ("carol", "create", "approve", "not-registered", False),
    ("alice", "create", "approve", "dev", False),
    ("bob", "create", "approve", "prod", False),
    ("mallory", "create", "approve", "prod", False),
    # break-glass: release-managers on prod only; deploying everywhere is no break-glass
    ("dave", "create", "breakglass", "prod", True),
    ("dave", "create", "breakglass", "staging", False),
    ("carol", "create", "breakglass", "prod", False),
    ("alice", "create", "breakglass", "dev", False),
    ("mallory", "create", "breakglass", "prod", False),
    # asking for access (change.md §9, §13)
    ("bob", "create", "request-read", "staging", True),
    ("bob", "create", "request-read", "prod", False),
    ("bob", "create", "request-deploy", "prod", True),
    ("bob", "create", "request-deploy", "staging", False),
    ("alice", "create", "request-deploy", "dev", True),
    ("alice", "create", "request-deploy", "prod", False),
    ("alice", "create", "request-read", "prod", False),
    ("carol", "create", "request-deploy", "not-registered", True),
    ("carol", "create", "request-read", "dev", False),
    ("mallory", "create", "request-read", "dev", False),
    ("mallory", "create", "request-deploy", "prod", False),
    # a read grant is no deploy grant, nor the other way round
    ("alice", "create", "kubeconfig", "dev", False),
]


def review(user: str, verb: str, subresource: str, env: str) -> dict[str, object]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"oidc:{user}@example.test",
            "groups": [f"oidc:{g}" for g in GROUPS[user]],
            "resourceAttributes": {
                "group": "scipian.io",
                "resource": "environments",
                "subresource": subresource,
                "verb": verb,
                "name": env,
            },
        },
    }


def json_stream(text: str) -> list[dict[str, Any]]:
    """Concatenated JSON documents, as `kubectl create -o json` prints them."""
    decoder = json.JSONDecoder()
    docs: list[dict[str, Any]] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return docs
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)


@pytest.fixture(scope="module")
def answers(stack: Stack) -> dict[tuple[str, str, str, str], bool]:
    """Every case's review, created in one kubectl call (one process instead of ~60)."""
    asked = [case[:4] for case in CASES]
    doc = {"apiVersion": "v1", "kind": "List", "items": [review(*a) for a in asked]}
    out = stack.kubectl("mgmt", "create", "-f", "-", "-o", "json", input=json.dumps(doc))
    items = json_stream(out.stdout)  # kubectl prints one document per created object
    assert len(items) == len(asked)
    got = {}
    for a, item in zip(asked, items, strict=True):
        attrs = item["spec"]["resourceAttributes"]
        assert (item["spec"]["user"], attrs["subresource"], attrs["name"]) == (
            f"oidc:{a[0]}@example.test",
            a[2],
            a[3],
        )
        status = item.get("status", {})
        got[a] = status.get("allowed") is True and status.get("denied") is not True
    return got


@pytest.mark.parametrize(("user", "verb", "subresource", "env", "allowed"), CASES)
def test_grant(
    answers: dict[tuple[str, str, str, str], bool],
    user: str,
    verb: str,
    subresource: str,
    env: str,
    allowed: bool,
) -> None:
    assert answers[(user, verb, subresource, env)] is allowed


def test_kubectl_auth_can_i_agrees(stack: Stack) -> None:
    """The same grants through `kubectl auth can-i` with impersonation, as an admin checks."""

    def can_i(user: str, subresource: str, env: str) -> bool:
        groups = [f"--as-group=oidc:{g}" for g in GROUPS[user]]
        out = stack.kubectl(
            "mgmt",
            "auth",
            "can-i",
            "create",
            f"environments.scipian.io/{env}",
            f"--subresource={subresource}",
            f"--as=oidc:{user}@example.test",
            *groups,
            check=False,
        )
        assert out.stdout.strip() in ("yes", "no"), out.stderr
        return out.stdout.strip() == "yes"

    assert can_i("alice", "deploy", "dev")
    assert not can_i("alice", "deploy", "prod")
    assert can_i("dave", "approve", "prod")
    assert not can_i("mallory", "deploy", "dev")

"""The deployer cannot outlive its token (issue #25 item 3, change.md §3, review M7), against
the real stack: alice's dev deploy credential (`scipian-deployer` in `shop`), the real dev
apiserver over raw HTTP and with the real kubectl, the real admission policy.

Whatever a try creates by mistake is deleted with the admin kubeconfig at the end; the
pod and Deployment checks are server-side dry runs (admission runs, nothing is stored).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.test_identities import Credential, alice_token, credential, issue
from tests.helpers import wait_for
from tests.stack.backend_daemon import admin_cli

pytestmark = pytest.mark.stack
NS = "shop"
TEN_YEARS = 315_360_000


@pytest.fixture
def deploy_cred(stack: Stack, tmp_path: Path) -> Credential:
    answer = issue(stack.env["SCIPIAN_BACKEND_URL"], alice_token(stack), "dev", "deploy")
    return credential(answer, tmp_path)


@pytest.fixture
def leftovers(stack: Stack) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        stack.kubectl("dev", "delete", "secret", name, "-n", NS, "--ignore-not-found")


def pod(name: str, seconds: int | None) -> dict[str, Any]:
    volumes = []
    if seconds is not None:
        volumes = [
            {
                "name": "tok",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "t", "expirationSeconds": seconds}}
                    ]
                },
            }
        ]
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": volumes,
        },
    }


def token_secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "annotations": {"kubernetes.io/service-account.name": "default"},
        },
        "type": "kubernetes.io/service-account-token",
    }


def test_a_deploy_credential_cannot_mint_a_long_lived_token(
    stack: Stack, deploy_cred: Credential, leftovers: list[str]
) -> None:
    d = deploy_cred
    # 1. TokenRequest, raw HTTP and kubectl.
    request = {"spec": {"expirationSeconds": TEN_YEARS}}
    assert d.call("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/default/token", request) == 403
    out = d.kubectl(stack, "create", "token", "default", "-n", NS, "--duration=87600h")
    assert out.returncode != 0 and "forbidden" in out.stderr.lower(), out.stderr
    assert d.can_i(stack, "create", "serviceaccounts", "--subresource=token", "-n", NS) == "no"
    assert d.can_i(stack, "impersonate", "serviceaccounts", "-n", NS) == "no"

    # 2. A legacy token Secret, raw HTTP and kubectl (refused by the admission policy).
    raw_name, kubectl_name = f"t-legacy-{uuid.uuid4().hex[:6]}", f"t-legacy-{uuid.uuid4().hex[:6]}"
    leftovers += [raw_name, kubectl_name]
    assert d.call("POST", f"/api/v1/namespaces/{NS}/secrets", token_secret(raw_name)) == 403
    out = d.kubectl(
        stack, "apply", "-n", NS, "-f", "-", input_text=json.dumps(token_secret(kubectl_name))
    )
    assert out.returncode != 0
    assert "scipian-deployer-tokens" in out.stderr, out.stderr
    for name in (raw_name, kubectl_name):
        got = stack.kubectl("dev", "get", "secret", name, "-n", NS, check=False)
        assert got.returncode != 0 and "NotFound" in got.stderr
    # An ordinary Secret still works: the policy refuses the type, not Secrets.
    assert d.can_i(stack, "create", "secrets", "-n", NS) == "yes"


def test_pods_may_not_ask_for_long_projected_tokens(stack: Stack, deploy_cred: Credential) -> None:
    d = deploy_cred
    path = f"/api/v1/namespaces/{NS}/pods?dryRun=All"
    assert d.call("POST", path, {"apiVersion": "v1", "kind": "Pod", **pod("t-long", 86400)}) == 403
    assert d.call("POST", path, {"apiVersion": "v1", "kind": "Pod", **pod("t-edge", 3607)}) == 201
    assert d.call("POST", path, {"apiVersion": "v1", "kind": "Pod", **pod("t-plain", None)}) == 201
    # Through a controller: the template is checked, not only pods the user creates.
    template = pod("t-deploy", 86400)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "t-long-deploy"},
        "spec": {
            "selector": {"matchLabels": template["metadata"]["labels"]},
            "template": template,
        },
    }
    assert (
        d.call("POST", f"/apis/apps/v1/namespaces/{NS}/deployments?dryRun=All", deployment) == 403
    )
    out = d.kubectl(
        stack, "apply", "--dry-run=server", "-n", NS, "-f", "-", input_text=json.dumps(deployment)
    )
    assert out.returncode != 0 and "3607" in out.stderr, out.stderr


def test_after_revoke_nothing_of_the_deploy_credential_authenticates(
    stack: Stack, deploy_cred: Credential, leftovers: list[str]
) -> None:
    """Review M7: with `edit`, the token of a legacy Secret (or a 10-year TokenRequest)
    outlived both the TTL and `revoke`. Whatever the credential could mint is collected
    here; after the revoke none of it, nor the credential, authenticates."""
    d = deploy_cred
    minted: list[str] = []
    r = d.call("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/default/token", {"spec": {}})
    if r == 201:  # today's code: never
        minted.append("tokenrequest")
    name = f"t-legacy-{uuid.uuid4().hex[:6]}"
    leftovers.append(name)
    if d.call("POST", f"/api/v1/namespaces/{NS}/secrets", token_secret(name)) == 201:
        minted.append(name)
    assert d.call("GET", f"/api/v1/namespaces/{NS}/pods") == 200

    out = admin_cli("revoke", "--env=dev", "--user=alice@example.test")
    assert out.returncode == 0, out.stderr

    # The apiserver checks the bound Secret on each request; its cache may lag briefly.
    wait_for(
        "the revoked token to be rejected",
        lambda: d.call("GET", f"/api/v1/namespaces/{NS}/pods") == 401,
        timeout=30,
    )
    got = d.kubectl(stack, "get", "pods", "-n", NS)
    assert got.returncode != 0 and "Unauthorized" in got.stderr
    assert minted == [], f"the deploy credential minted {minted}"


def test_the_deployer_role_is_edit_without_token_rights(stack: Stack) -> None:
    def rules(name: str) -> set[tuple[str, str, str]]:
        role = json.loads(stack.kubectl("dev", "get", "clusterrole", name, "-o", "json").stdout)
        return {
            (group, resource, verb)
            for rule in role.get("rules") or []
            for group in rule.get("apiGroups", [""])
            for resource in rule.get("resources", [])
            for verb in rule["verbs"]
        }

    edit = rules("system:aggregate-to-edit")
    minus = {r for r in edit if r[2] == "impersonate" or r[1] == "serviceaccounts/token"}
    assert minus == {
        ("", "serviceaccounts", "impersonate"),
        ("", "serviceaccounts/token", "create"),
    }
    assert rules("scipian-deployer-base") == edit - minus
    deployer = rules("scipian-deployer")
    assert edit - minus <= deployer and not minus & deployer
    assert rules("view") <= deployer  # edit includes view; so does this
    # The stack's environments deploy with it (moved off `edit`).
    for env_id in ("dev", "staging", "prod"):
        env = json.loads(
            stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, "-o", "json").stdout
        )
        assert env["spec"]["deploy"]["clusterRole"] == "scipian-deployer"
    binding = json.loads(
        stack.kubectl(
            "dev",
            "get",
            "validatingadmissionpolicybinding",
            "scipian-deployer-tokens",
            "-o",
            "json",
        ).stdout
    )
    assert binding["spec"]["validationActions"] == ["Deny"]


def test_upgrade_target_moves_an_edit_environment_to_the_deployer_role(stack: Stack) -> None:
    env_id = f"t-upgrade-{uuid.uuid4().hex[:6]}"
    dev = str(stack.kubeconfig("dev"))
    out = admin_cli(
        "register", f"--name={env_id}", f"--kubeconfig={dev}", f"--deploy-namespace={env_id}"
    )
    assert out.returncode == 0, out.stderr
    try:
        # As an older version stored it.
        patch = {"spec": {"deploy": {"clusterRole": "edit"}}}
        stack.kubectl(
            "mgmt",
            "patch",
            "environments.scipian.io",
            env_id,
            "--type=merge",
            "-p",
            json.dumps(patch),
        )
        out = admin_cli("upgrade-target", f"--name={env_id}", f"--kubeconfig={dev}")
        assert out.returncode == 0, out.stderr
        assert "scipian-deployer" in out.stdout
        env = json.loads(
            stack.kubectl("mgmt", "get", "environments.scipian.io", env_id, "-o", "json").stdout
        )
        assert env["spec"]["deploy"]["clusterRole"] == "scipian-deployer"
        # The policies are there (re-applied on the target).
        got = stack.kubectl(
            "dev", "get", "validatingadmissionpolicybinding", "scipian-deployer-tokens", check=False
        )
        assert got.returncode == 0, got.stderr
        bad = admin_cli("upgrade-target", "--name=no-such-env", f"--kubeconfig={dev}")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    finally:
        admin_cli("unregister", f"--name={env_id}")
        stack.kubectl("dev", "delete", "namespace", env_id, "--wait=false", check=False)

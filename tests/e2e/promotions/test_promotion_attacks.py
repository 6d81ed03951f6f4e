"""Version 1's attacks on promotions (docs/threat-model.md; the review's H2, H3, L6, M4,
M5), tried again as a hostile client over raw HTTP and with the attacker's own ordinary
credentials. Each fails on version 1's code: there the initiator held the step's deploy
credential, planted records were evidence, the soak was seen only through the client's
polls, and gates were frozen at creation.

This module registers two Environments of its own, `t-atk-a` on the dev cluster and
`t-atk-b` on the staging cluster (deploy namespace `shop`), changes their gates, and grants
and removes rights on them; the stack's own environments keep theirs.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.conftest import Stack
from tests.e2e.promotions.hostile import (
    apply,
    delete,
    deploy_kubeconfig,
    environment,
    record_object,
    release_records,
    set_approvals,
)
from tests.e2e.promotions.world import NAMESPACE, Api, Archive, Flow, Logins, phase, step_of
from tests.helpers import env_grant

pytestmark = pytest.mark.stack
ENV_A, ENV_B = "t-atk-a", "t-atk-b"
ALICE, DAVE = "oidc:alice@example.test", "oidc:dave@example.test"
EVIL = "registry.example/shop-web:evil"
BOUND = 120.0  # seconds: a bound on waiting for helm's first record, not a timing assertion


@pytest.fixture(scope="module")
def envs(stack: Stack) -> Iterator[tuple[str, str]]:
    """t-atk-a (dev cluster) and t-atk-b (staging cluster); dave approves on both."""
    approve = env_grant("t-atk-approve", "approve", DAVE, [ENV_A, ENV_B])
    with environment(stack, ENV_A, "dev"), environment(stack, ENV_B, "staging"):
        apply(stack, "mgmt", approve)
        try:
            yield ENV_A, ENV_B
        finally:
            delete(stack, "mgmt", approve)


def _core(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def _await_secret(core: client.CoreV1Api, name: str) -> None:
    """Until Secret `name` exists in shop (helm wrote its record: the step runs)."""
    deadline = time.monotonic() + BOUND
    while True:
        try:
            core.read_namespaced_secret(name, NAMESPACE)
            return
        except ApiException as e:
            assert e.status == 404, e.status
        assert time.monotonic() < deadline, f"no {name}"
        time.sleep(0.1)


def _verifying(flow: Flow, token: str, promo: dict[str, Any], env: str) -> dict[str, Any]:
    promo = flow.until(token, promo, lambda p: step_of(p, env)["phase"] != "Pending"
                       and step_of(p, env)["phase"] != "Deploying")  # fmt: skip
    assert step_of(promo, env)["phase"] == "Verifying", promo["status"]
    return promo


def _approve(api: Api, token: str, promo: dict[str, Any], env: str) -> None:
    name = promo["metadata"]["name"]
    current = api.get(token, name).json()
    got = api.approve(token, name, env, "attack test", step_of(current, env)["renderDigest"])
    assert got.status_code == 200, got.text


# --- H2: records are no evidence; helm's own output is -----------------------------------


def test_a_planted_v999_secret_record_does_not_make_the_dev_step_succeed(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    tmp_path: Path,
) -> None:
    """alice plants `sh.helm.release.v1.REL.v999` (type helm.sh/release.v1, empty manifest)
    with her ordinary dev deploy credential while her promotion's dev step runs."""
    alice = logins.fresh("alice")
    core = _core(deploy_kubeconfig(api, alice, "dev", tmp_path))
    promo = flow.start(alice, release, charts["1.2.0"], ["dev"], soakSeconds=3)
    _await_secret(core, f"sh.helm.release.v1.{release}.v1")
    planted = record_object("Secret", release, 999)
    core.create_namespaced_secret(NAMESPACE, planted)
    try:
        promo = flow.finished(logins.token("alice"), promo)
    finally:
        # The executor's roll-back (an uninstall: no revision before) may have taken it;
        # helm's own uninstall would take its empty manifest as the last and leave the rest.
        stack.kubectl(
            "dev", "delete", "secret", planted["metadata"]["name"], "-n", NAMESPACE,
            "--ignore-not-found",
        )  # fmt: skip
        stack.kubectl(
            "dev", "delete", "deployment", release, "-n", NAMESPACE, "--ignore-not-found",
            "--wait=false",
        )  # fmt: skip
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", step
    assert step["message"] == (
        "verification: a newer release revision than the executed one appeared"
    ), step
    assert step.get("revision") != 999
    assert phase(promo) == "Failed"


def test_a_configmap_record_never_counts(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    tmp_path: Path,
) -> None:
    """The same record as a ConfigMap (version 1's verification took it): the step records
    helm's own revision, and what runs is the chart's."""
    alice = logins.fresh("alice")
    core = _core(deploy_kubeconfig(api, alice, "dev", tmp_path))
    promo = flow.start(alice, release, charts["1.2.0"], ["dev"], soakSeconds=2)
    _await_secret(core, f"sh.helm.release.v1.{release}.v1")
    planted = record_object("ConfigMap", release, 999)
    core.create_namespaced_config_map(NAMESPACE, planted)
    try:
        promo = flow.finished(logins.token("alice"), promo)
    finally:
        stack.kubectl(
            "dev", "delete", "configmap", planted["metadata"]["name"], "-n", NAMESPACE,
            "--ignore-not-found",
        )  # fmt: skip
    step = step_of(promo, "dev")
    assert step["phase"] == "Succeeded", step
    assert step["revision"] == 1
    live = stack.kubectl("dev", "get", "deployment", release, "-n", NAMESPACE, "-o", "json")
    [container] = json.loads(live.stdout)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/shop-web:1.0"


# --- H3/L6: after verification, what runs is watched by the backend ------------------------


def test_set_image_during_the_soak_fails_the_step(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    tmp_path: Path,
) -> None:
    """alice asks for her running step's credential (version 1 re-issued it at will: 410
    now), then changes the image with her ordinary dev deploy credential while it soaks."""
    alice = logins.fresh("alice")
    kubeconfig = deploy_kubeconfig(api, alice, "dev", tmp_path)
    promo = flow.start(alice, release, charts["1.2.0"], ["dev"], soakSeconds=3)
    promo = _verifying(flow, alice, promo, "dev")
    name = promo["metadata"]["name"]
    again = api.step(alice, name, "dev", "kubeconfig")
    assert again.status_code == 410 and "kubeconfig" not in again.json(), again.text
    subprocess.run(
        [stack.kubectl_path, f"--kubeconfig={kubeconfig}", "-n", NAMESPACE,
         "set", "image", f"deployment/{release}", f"web={EVIL}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    promo = flow.finished(logins.token("alice"), promo)
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", step
    assert step["message"] == (
        f"verification: Deployment/{release} container web runs an image other than the "
        "approved one"
    )


def test_a_restart_during_the_soak_fails_the_step(
    stack: Stack, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    """The soak is watched by the backend, not through a client's polls (review L6), and a
    restart fails the step at once: the dev cluster's admin reports one, as a kubelet would."""
    alice = logins.fresh("alice")
    promo = flow.start(alice, release, charts["1.2.0"], ["dev"], soakSeconds=3)
    promo = _verifying(flow, alice, promo, "dev")
    pods = stack.kubectl(
        "dev", "get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={release}",
        "-o", "json",
    )  # fmt: skip
    [pod] = [
        p for p in json.loads(pods.stdout)["items"] if "deletionTimestamp" not in p["metadata"]
    ]
    restarted = [{"op": "replace", "path": "/status/containerStatuses/0/restartCount", "value": 1}]
    stack.kubectl(
        "dev", "patch", "pod", pod["metadata"]["name"], "-n", NAMESPACE,
        "--subresource=status", "--type=json", "-p", json.dumps(restarted),
    )  # fmt: skip
    promo = flow.finished(logins.token("alice"), promo)
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", step
    assert step["message"] == f"verification: pod {pod['metadata']['name']} container web restarted"


# --- M4: the gates of now apply ------------------------------------------------------------


def test_a_gate_added_after_creation_applies_to_the_running_promotion(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    envs: tuple[str, str],
) -> None:
    """carol's promotion through [a, b] waits for dave's approval on a; meanwhile b (the
    "prod" of this test) gets `approvals.required: 1`. Once a is done, b waits for it."""
    a, b = envs
    set_approvals(stack, a, 1)
    set_approvals(stack, b, 0)
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, charts["1.2.0"], [a, b])
    promo = flow.awaiting(carol, promo, a)
    assert step_of(promo, b)["approvalsRequired"] == 0
    set_approvals(stack, b, 1)  # the gate added after creation
    _approve(api, logins.fresh("dave"), promo, a)
    promo = flow.until(logins.token("carol"), promo, lambda p: step_of(p, b)["phase"] != "Pending")
    step = step_of(promo, b)
    assert step_of(promo, a)["phase"] == "Succeeded", promo["status"]
    assert step["phase"] == "AwaitingApproval", step
    assert step["approvalsRequired"] == 1
    assert phase(promo) == "AwaitingApproval"
    assert release_records(stack, "staging", release) == []


# --- the initiator's right, checked before each step --------------------------------------


def test_an_initiator_whose_deploy_grant_is_removed_is_stopped_at_the_next_step(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    envs: tuple[str, str],
) -> None:
    a, b = envs
    set_approvals(stack, a, 0)
    set_approvals(stack, b, 1)
    deploy = env_grant(f"t-atk-deploy-{release}", "deploy", ALICE, [a, b])
    apply(stack, "mgmt", deploy)
    try:
        alice = logins.fresh("alice")
        promo = flow.start(alice, release, charts["1.2.0"], [a, b])
        promo = flow.awaiting(alice, promo, b)
        assert step_of(promo, a)["phase"] == "Succeeded", promo["status"]
        delete(stack, "mgmt", deploy)  # alice may no longer deploy to b (nor to a)
        _until_denied(stack, ALICE, b)
        _approve(api, logins.fresh("dave"), promo, b)
        promo = flow.finished(logins.token("alice"), promo)
    finally:
        delete(stack, "mgmt", deploy)
    assert phase(promo) == "Failed", promo["status"]
    assert step_of(promo, b)["message"] == f"initiator may no longer deploy to {b}"
    assert release_records(stack, "staging", release) == []


def _until_denied(stack: Stack, user: str, env: str) -> None:
    """The apiserver's RBAC has seen the binding go (the backend asks it afresh)."""
    deadline = time.monotonic() + 30
    while True:
        done = stack.kubectl(
            "mgmt", "auth", "can-i", "create", f"environments.scipian.io/{env}",
            "--subresource=deploy", f"--as={user}", "--as-group=oidc:team-a", check=False,
        )  # fmt: skip
        if done.stdout.strip() == "no":
            return
        assert time.monotonic() < deadline, done.stdout
        time.sleep(0.2)


# --- M5: approvals bind the values -------------------------------------------------------


def test_an_admin_editing_the_values_secret_after_approval_fails_the_step_before_helm(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    charts: dict[str, Archive],
    release: str,
    envs: tuple[str, str],
) -> None:
    """b is approved (ahead of its turn), then an admin of mgmt rewrites b's values in the
    promotion's values Secret; a then runs, and b fails before its helm runs."""
    a, b = envs
    set_approvals(stack, a, 1)
    set_approvals(stack, b, 1)
    carol = logins.fresh("carol")
    common = base64.b64encode(b"replicas: 1\n").decode()
    values = {"*": [{"name": "common.yaml", "contentBase64": common}]}
    promo = flow.start(carol, release, charts["1.2.0"], [a, b], values=values)
    name = promo["metadata"]["name"]
    dave = logins.fresh("dave")
    _approve(api, dave, promo, b)
    secret = json.loads(
        stack.kubectl(
            "mgmt", "get", "secret", f"values-{name}", "-n", "scipian-artifacts", "-o", "json"
        ).stdout
    )
    doc = json.loads(base64.b64decode(secret["data"]["values.json"]))
    doc[b]["sets"] = [*doc[b].get("sets", []), "replicas=5"]
    secret["data"]["values.json"] = base64.b64encode(json.dumps(doc).encode()).decode()
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        secret["metadata"].pop(key, None)
    # the Secret is immutable: the admin replaces it whole (delete, then create)
    stack.kubectl("mgmt", "replace", "--force", "-f", "-", input=json.dumps(secret))
    _approve(api, dave, promo, a)
    promo = flow.finished(logins.token("carol"), promo)
    assert step_of(promo, a)["phase"] == "Succeeded", promo["status"]
    step = step_of(promo, b)
    assert step["phase"] == "Failed" and step["message"] == "values digest mismatch", step
    assert release_records(stack, "staging", release) == []

"""The local clusters behave like real ones (issue: the real local stack)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client, config

from tests.conftest import Stack
from tests.helpers import wait_for
from tests.stack.podlogs import append_lines, give_logs


@pytest.fixture
def ns(stack: Stack) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    stack.kubectl("dev", "create", "namespace", name)
    wait_for(
        "default ServiceAccount",
        lambda: (
            stack.kubectl("dev", "get", "sa", "default", "-n", name, check=False).returncode == 0
        ),
    )
    yield name
    stack.kubectl("dev", "delete", "namespace", name, "--wait=false", check=False)


def api(stack: Stack, cluster: str = "dev") -> client.ApiClient:
    return config.new_client_from_config(config_file=str(stack.kubeconfig(cluster)))


def pods(stack: Stack, ns: str, selector: str) -> list[dict[str, Any]]:
    out = stack.kubectl("dev", "get", "pods", "-n", ns, "-l", selector, "-o", "json")
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def test_deployment_becomes_running_pods_with_scheduler_events(stack: Stack, ns: str) -> None:
    stack.kubectl(
        "dev", "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "-n", ns
    )

    def three_running() -> bool:
        items = pods(stack, ns, "app=web")
        return len(items) == 3 and all(p["status"].get("phase") == "Running" for p in items)

    wait_for("3 running pods", three_running)
    items = pods(stack, ns, "app=web")
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in items)
    # The pods were made by the controller manager (Deployment -> ReplicaSet -> Pod).
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in items)

    name = items[0]["metadata"]["name"]
    wait_for(
        "scheduler event",
        lambda: (
            "default-scheduler" in stack.kubectl("dev", "describe", "pod", name, "-n", ns).stdout
        ),
    )
    described = stack.kubectl("dev", "describe", "pod", name, "-n", ns).stdout
    assert "Scheduled" in described
    assert f"Successfully assigned {ns}/{name} to kwok-node-" in described


def test_pod_logs_through_kubectl_and_python_client(stack: Stack, ns: str) -> None:
    stack.kubectl("dev", "run", "talker", "--image=busybox", "-n", ns)
    wait_for(
        "pod running",
        lambda: (
            stack.kubectl(
                "dev", "get", "pod", "talker", "-n", ns, "-o", "jsonpath={.status.phase}"
            ).stdout
            == "Running"
        ),
    )
    files = give_logs(
        stack.kubeconfig("dev"), ns, "talker", {"talker": ["first line", "second line"]}
    )
    out = stack.kubectl("dev", "logs", "talker", "-n", ns)
    assert out.stdout == "first line\nsecond line\n"

    core = client.CoreV1Api(api(stack))
    resp = core.read_namespaced_pod_log("talker", ns, _preload_content=False)
    assert resp.data == b"first line\nsecond line\n"

    append_lines(files["talker"], ["third line"])
    assert stack.kubectl("dev", "logs", "talker", "-n", ns, "--tail=1").stdout == "third line\n"


def test_job_completes_and_namespace_deletes(stack: Stack, ns: str) -> None:
    stack.kubectl("dev", "create", "job", "once", "--image=busybox", "-n", ns)
    wait_for(
        "job complete",
        lambda: (
            stack.kubectl(
                "dev",
                "get",
                "job",
                "once",
                "-n",
                ns,
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Complete")].status}',
            ).stdout
            == "True"
        ),
    )
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false")
    wait_for(
        "namespace gone",
        lambda: stack.kubectl("dev", "get", "namespace", ns, check=False).returncode != 0,
        timeout=120,
    )


def test_failed_pod_through_annotation(stack: Stack, ns: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "crash",
            "namespace": ns,
            "annotations": {"stack.scipian.io/fail": "3"},
        },
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
    }
    stack.kubectl("dev", "apply", "-f", "-", input=json.dumps(manifest))
    jp = "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}"
    wait_for(
        "pod failed",
        lambda: (
            stack.kubectl("dev", "get", "pod", "crash", "-n", ns, "-o", jp).stdout == "Failed 3"
        ),
    )


def _whoami(server: str, ca: str, token: str) -> requests.Response:
    return requests.post(
        f"{server}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        headers={"Authorization": f"Bearer {token}"},
        verify=ca,
        timeout=10,
    )


def test_bound_token_dies_with_its_secret_and_rbac_is_enforced(
    stack: Stack, ns: str, tmp_path
) -> None:
    c = api(stack)
    core = client.CoreV1Api(c)
    core.create_namespaced_service_account(ns, {"metadata": {"name": "reader"}})
    secret = core.create_namespaced_secret(ns, {"metadata": {"name": "session-1"}})
    tr = core.create_namespaced_service_account_token(
        "reader",
        ns,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[],
                expiration_seconds=600,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Secret", name="session-1", uid=secret.metadata.uid
                ),
            )
        ),
    )
    token = tr.status.token
    server = c.configuration.host
    ca = tmp_path / "ca.crt"
    ca.write_text(_ca_pem(stack))

    who = _whoami(server, str(ca), token)
    assert who.status_code == 201
    assert who.json()["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:reader"

    pods_url = f"{server}/api/v1/namespaces/{ns}/pods"
    hdr = {"Authorization": f"Bearer {token}"}
    assert requests.get(pods_url, headers=hdr, verify=str(ca), timeout=10).status_code == 403
    stack.kubectl(
        "dev", "create", "rolebinding", "reader-view", "--clusterrole=view",
        f"--serviceaccount={ns}:reader", "-n", ns,
    )  # fmt: skip
    wait_for(
        "RBAC grant",
        lambda: requests.get(pods_url, headers=hdr, verify=str(ca), timeout=10).status_code == 200,
        timeout=30,
    )

    core.delete_namespaced_secret("session-1", ns)
    wait_for("token revoked", lambda: _whoami(server, str(ca), token).status_code == 401)


def _ca_pem(stack: Stack) -> str:
    import base64

    import yaml

    kc = yaml.safe_load(stack.kubeconfig("dev").read_text())
    return base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()


def test_staging_is_a_cluster_of_its_own(stack: Stack) -> None:
    """staging has its own apiserver, scheduler, controller manager and KWOK nodes."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    servers = {
        cluster: api(stack, cluster).configuration.host for cluster in ("dev", "staging", "prod")
    }
    assert len(set(servers.values())) == 3
    stack.kubectl("staging", "create", "namespace", name)
    try:
        assert stack.kubectl("dev", "get", "namespace", name, check=False).returncode != 0
        stack.kubectl(
            "staging",
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "-n",
            name,
        )

        def two_running() -> bool:
            out = stack.kubectl("staging", "get", "pods", "-n", name, "-l", "app=web", "-o", "json")
            items = json.loads(out.stdout)["items"]
            return len(items) == 2 and all(p["status"].get("phase") == "Running" for p in items)

        wait_for("2 running pods on staging", two_running)
        out = stack.kubectl("staging", "get", "pods", "-n", name, "-l", "app=web", "-o", "json")
        assert all(
            p["spec"]["nodeName"].startswith("kwok-node-") for p in json.loads(out.stdout)["items"]
        )
    finally:
        stack.kubectl("staging", "delete", "namespace", name, "--wait=false", check=False)

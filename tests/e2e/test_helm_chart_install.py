"""A real `helm install` of charts/scipian-backend into the stack's management cluster, with
every option on, in a namespace and under a release name of the test's own; then `helm
upgrade` to changed values and `helm uninstall`.

The real apiserver creates every object (RBAC, Deployment, Service, PodDisruptionBudget,
NetworkPolicy, Ingress, and the HTTPRoute and ServiceMonitor once their CRDs, taken from
their Go modules by tests/e2e/chart_crds.py, are installed). mgmt has a controller manager
but no node: the Deployment's ReplicaSet and pods are created and stay Pending, so nothing
here runs the backend's container (issue #26 item 5 brings a real node). The NetworkPolicy
is created but not enforced (the stack has no CNI).

helm reaches mgmt through tests/e2e/semver_proxy.py, which gives `/version` a semver
gitVersion: the stack's apiservers report `v0.0.0-master+...`, which helm refuses against
the chart's `kubeVersion`. Every other request goes to the apiserver unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.chart_crds import CRDS, ensure_crds
from tests.e2e.semver_proxy import SemverProxy
from tests.e2e.test_helm_chart import CHART, Helm
from tests.e2e.test_helm_chart import real_helm as real_helm  # the module's fixture

pytestmark = pytest.mark.stack
SCIPIAN_CRDS = ("environments.scipian.io", "promotions.scipian.io", "accessrequests.scipian.io")


@pytest.fixture(scope="module")
def proxy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SemverProxy]:
    p = SemverProxy(stack.kubeconfig("mgmt"), tmp_path_factory.mktemp("semver-proxy"))
    yield p
    p.stop()


@pytest.fixture
def namespace(stack: Stack) -> Iterator[str]:
    name = f"helm-install-{uuid.uuid4().hex[:8]}"
    stack.kubectl("mgmt", "create", "namespace", name)
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "namespace", name, "--wait=false", check=False)


def values(stack: Stack) -> dict[str, Any]:
    return {
        "oidc": {"issuer": stack.env["STACK_IDP_ISSUER"]},
        "forwardedAllowIPs": "10.244.0.0/16",
        "dashboard": {
            "enabled": True,
            "clientID": "scipian-dashboard",
            "clientSecret": {"existingSecret": "scipian-ui-oidc", "key": "client-secret"},
            "publicURL": "https://scipian.example.test",
        },
        "ingress": {
            "enabled": True,
            "hosts": ["scipian.example.test"],
            "tls": [{"secretName": "scipian-tls", "hosts": ["scipian.example.test"]}],
        },
        "httpRoute": {
            "enabled": True,
            "parentRefs": [{"name": "public", "namespace": "gateways"}],
            "hostnames": ["scipian.example.test"],
        },
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        # The stack's mgmt has scipian-artifacts and scipian-dashboard already
        # (manifests/rbac.yaml): the chart binds its Roles there without owning them.
        "rbac": {"createArtifactsNamespace": False, "createDashboardNamespace": False},
    }


def ref(obj: dict[str, Any]) -> list[str]:
    """kubectl arguments naming `obj` exactly (its kind in its group and version)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    kind = f"{obj['kind']}.{version}.{group}" if group else obj["kind"]
    out = [f"{kind}/{obj['metadata']['name']}"]
    if "namespace" in obj["metadata"]:
        out += ["-n", obj["metadata"]["namespace"]]
    return out


def live(stack: Stack, obj: dict[str, Any]) -> dict[str, Any] | None:
    done = stack.kubectl("mgmt", "get", *ref(obj), "--ignore-not-found", "-o", "json")
    return json.loads(done.stdout) if done.stdout.strip() else None


def manifest(h: Helm, kubeconfig: Path, release: str, namespace: str) -> list[dict[str, Any]]:
    done = h.run("get", "manifest", release, "-n", namespace, env={"KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_install_upgrade_uninstall_leave_nothing_behind(
    stack: Stack, real_helm: Helm, proxy: SemverProxy, namespace: str, tmp_path: Path
) -> None:
    ensure_crds(stack)
    kubeconfig = proxy.kubeconfig()
    env = {"KUBECONFIG": str(kubeconfig)}
    release = f"scn-{uuid.uuid4().hex[:6]}"
    full = f"{release}-scipian-backend"
    stack.kubectl(
        "mgmt",
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "scipian-ui-oidc",
        f"--from-literal=client-secret={uuid.uuid4().hex}",
    )
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values(stack)))

    # install: every object created by the apiserver, and the next commands printed.
    done = real_helm.run(
        "install", release, str(CHART), "-n", namespace, "-f", str(values_file), env=env
    )
    assert done.returncode == 0, done.stderr
    assert "STATUS: deployed" in done.stdout
    assert f"kubectl -n {namespace} rollout status deployment/{full}" in done.stdout
    assert f"python -m scipian_backend --namespace {namespace} " in done.stdout
    assert "https://scipian.example.test/ui/callback" in done.stdout

    objects = manifest(real_helm, kubeconfig, release, namespace)
    assert sorted(o["kind"] for o in objects) == sorted(
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "Role",
            "Role",  # in scipian-artifacts
            "Role",  # in scipian-dashboard
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "RoleBinding",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "Ingress",
            "HTTPRoute",
            "ServiceMonitor",
        ]
    )
    for obj in objects:
        got = live(stack, obj)
        assert got is not None, f"{ref(obj)} was not created"
        assert got["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
        assert got["metadata"]["labels"]["app.kubernetes.io/instance"] == release
    deployment = live(stack, next(o for o in objects if o["kind"] == "Deployment"))
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--ui-client-id=scipian-dashboard" in args
    assert "--forwarded-allow-ips=10.244.0.0/16" in args
    # helm's YAML (not only PyYAML) reads the mode as octal: readable by the pod's group only.
    [secret] = [
        v["secret"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v
    ]
    assert (secret["secretName"], secret["defaultMode"]) == ("scipian-ui-oidc", 0o440)
    for crd in [*SCIPIAN_CRDS, *(c.name for c in CRDS)]:
        stack.kubectl("mgmt", "get", "crd", crd)

    # upgrade to changed values: the Deployment follows, the Ingress turned off is deleted.
    done = real_helm.run(
        "upgrade",
        release,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(values_file),
        "--set",
        "replicas=3,ingress.enabled=false",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "REVISION: 2" in done.stdout
    deployment = live(stack, next(o for o in objects if o["kind"] == "Deployment"))
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 3
    assert live(stack, next(o for o in objects if o["kind"] == "Ingress")) is None
    upgraded = manifest(real_helm, kubeconfig, release, namespace)
    assert "Ingress" not in {o["kind"] for o in upgraded}

    # uninstall: every object gone (dependents too: foreground deletion, waited for),
    # and helm's own records; the CRDs stay, as helm leaves them.
    done = real_helm.run(
        "uninstall",
        release,
        "-n",
        namespace,
        "--wait",
        "--cascade=foreground",
        "--timeout=120s",
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    for obj in objects:
        assert live(stack, obj) is None, f"{ref(obj)} was left behind"
    left = stack.kubectl(
        "mgmt",
        "get",
        "all,secrets,configmaps,pdb,netpol,ingress,httproutes,servicemonitors,role,rolebinding",
        "-n",
        namespace,
        "-o",
        "name",
    )
    # The namespace's own (the root CA controller's) and the test's Secret only.
    assert sorted(left.stdout.split()) == ["configmap/kube-root-ca.crt", "secret/scipian-ui-oidc"]
    events_rbac = stack.kubectl(
        "mgmt", "get", "role,rolebinding", "-n", "default", "-o", "name"
    ).stdout.split()
    assert not [name for name in events_rbac if release in name]
    for crd in [*SCIPIAN_CRDS, *(c.name for c in CRDS)]:
        stack.kubectl("mgmt", "get", "crd", crd)

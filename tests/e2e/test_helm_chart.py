"""charts/scipian-backend with a real helm (built from tests/tools/helm, cached by hash).

`helm lint`, `helm template` (the rendered objects checked against the package: RBAC equal
to backend/scipian_backend/manifests/rbac.yaml, the serve args parsed by the backend's own argument
parser), and the rendered output applied to the stack's management cluster with
`kubectl apply --dry-run=server` in a namespace of the test's own. The raw
`backend/scipian_backend/manifests/*.yaml` get the same server-side dry run: crd, rbac and
deployment on the management cluster, broker-role on a target (where `register` puts it).

helm sees HOME, its cache/config/data dirs and KUBECONFIG in a temporary directory only.
A helm built with plain `go build` (no release ldflags) assumes Kubernetes v1.20 when it
renders offline, older than the chart's `kubeVersion`, so offline renders pass
`--kube-version` of the k8s.io/client-go that helm is built with; and the stack's
apiservers report no semver (`v0.0.0-master+...`), so the dry-run render passes the
management cluster's major.minor.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scipian_backend.__main__ import parser as backend_parser
from scipian_backend.ratelimit import parse_rate
from tests.conftest import Stack
from tests.stack.paths import ROOT
from tests.tools import HELM_SRC, helm

CHART = ROOT / "charts" / "scipian-backend"
MANIFESTS = ROOT / "backend" / "scipian_backend" / "manifests"
ISSUER = "https://idp.example.com"


def client_go_kube_version() -> str:
    """v1.N.0 for the k8s.io/client-go v0.N.x that tests/tools/helm/go.mod pins."""
    text = (HELM_SRC / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", text, re.M)
    assert match, "no k8s.io/client-go in tests/tools/helm/go.mod"
    return f"v1.{match.group(1)}.0"


@dataclass(frozen=True)
class Helm:
    """The real helm with every directory it writes in `home`."""

    binary: Path
    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KUBECONFIG": str(self.home / "kubeconfig"),  # never a person's
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "XDG_CACHE_HOME": str(self.home / "xdg-cache"),
            "LANG": "C.UTF-8",
        }

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_helm(home: Path) -> Helm:
    """Builds helm on first use on a machine (~1.5-4 min on 2 cores), then from the cache."""
    return Helm(helm(), home)


@pytest.fixture(scope="module")
def real_helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return make_helm(tmp_path_factory.mktemp("helm-home"))


def render(h: Helm, *args: str, namespace: str = "scipian-system") -> list[dict[str, Any]]:
    done = h.run(
        "template",
        "scipian",
        str(CHART),
        "--namespace",
        namespace,
        "--include-crds",
        "--kube-version",
        client_go_kube_version(),
        *args,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def manifest(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def test_helm_lint(real_helm: Helm) -> None:
    done = real_helm.run("lint", "--strict", str(CHART), "--set", f"oidc.issuer={ISSUER}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_the_issuer_is_required(real_helm: Helm) -> None:
    done = real_helm.run(
        "template", "scipian", str(CHART), "--kube-version", client_go_kube_version()
    )
    assert done.returncode != 0
    assert "oidc.issuer is required" in done.stderr


def test_rendered_objects_match_the_package(real_helm: Helm) -> None:
    docs = by_kind(render(real_helm, "--set", f"oidc.issuer={ISSUER}"))
    assert {kind: len(objs) for kind, objs in docs.items()} == {
        "CustomResourceDefinition": 3,
        "ServiceAccount": 1,
        "ClusterRole": 1,
        "ClusterRoleBinding": 1,
        "Role": 4,
        "RoleBinding": 4,
        "Namespace": 2,  # scipian-artifacts and scipian-dashboard, kept on uninstall
        "Deployment": 1,
        "Service": 1,
        "PodDisruptionBudget": 1,
        "NetworkPolicy": 1,  # on by default; tests/e2e/test_helm_chart_options.py
    }
    crds = {c["metadata"]["name"]: c for c in docs["CustomResourceDefinition"]}
    assert crds["environments.scipian.io"] == manifest("crd.yaml")[0]
    assert crds["promotions.scipian.io"] == manifest("promotion-crd.yaml")[0]
    assert crds["accessrequests.scipian.io"] == manifest("accessrequest-crd.yaml")[0]

    # RBAC: the rules of backend/scipian_backend/manifests/rbac.yaml, bound to the chart's account.
    raw = by_kind(manifest("rbac.yaml"))
    assert docs["ClusterRole"][0]["rules"] == raw["ClusterRole"][0]["rules"]
    roles = {r["metadata"]["namespace"]: r["rules"] for r in docs["Role"]}
    raw_roles = {r["metadata"]["namespace"]: r["rules"] for r in raw["Role"]}
    assert roles == {
        "scipian-system": raw_roles["scipian-system"],
        "default": raw_roles["default"],
        "scipian-artifacts": raw_roles["scipian-artifacts"],
        "scipian-dashboard": raw_roles["scipian-dashboard"],
    }
    names = sorted(ns["metadata"]["name"] for ns in docs["Namespace"])
    assert names == ["scipian-artifacts", "scipian-dashboard"]
    for ns in docs["Namespace"]:
        assert ns["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    [sa] = docs["ServiceAccount"]
    subject = {
        "kind": "ServiceAccount",
        "name": sa["metadata"]["name"],
        "namespace": "scipian-system",
    }
    for binding in docs["ClusterRoleBinding"] + docs["RoleBinding"]:
        assert binding["subjects"] == [subject]

    [deploy] = docs["Deployment"]
    spec = deploy["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/scipian/scipian-backend:0.1.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # SIGTERM: /readyz fails for two readiness periods (one failure takes the pod out), then
    # up to 30 s of drain and the worker room's stop (25 s at most), all within the grace.
    probe = container["readinessProbe"]
    assert (probe["periodSeconds"], probe["failureThreshold"]) == (10, 1)
    assert "--shutdown-unready-seconds=20" in container["args"]
    assert "--shutdown-drain-seconds=30" in container["args"]
    assert pod["terminationGracePeriodSeconds"] > 20 + 30 + 25
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # The backend's own helm (the image's), its scratch dir a size-limited emptyDir, and
    # room in the memory limit for the backend plus two helm runs of 512 MiB.
    assert "--helm=/usr/local/bin/helm" in container["args"]
    assert "--helm-scratch-dir=/var/run/scipian/helm" in container["args"]
    assert "--helm-max-runs=2" in container["args"]
    assert "--helm-memory-bytes=536870912" in container["args"]
    assert {"name": "helm-scratch", "mountPath": "/var/run/scipian/helm"} in container[
        "volumeMounts"
    ]
    assert {"name": "helm-scratch", "emptyDir": {"sizeLimit": "128Mi"}} in pod["volumes"]
    assert container["resources"]["limits"]["memory"] == "1536Mi"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    [service] = docs["Service"]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    [pdb] = docs["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == spec["selector"]


def test_serve_args_are_the_backends_own_flags(real_helm: Helm) -> None:
    docs = by_kind(
        render(
            real_helm,
            "--set",
            f"oidc.issuer={ISSUER}",
            "--set",
            "oidc.clientID=my-client,oidc.usernameClaim=preferred_username,oidc.groupsClaim=roles",
            "--set",
            "oidc.usernamePrefix=corp:,oidc.groupsPrefix=",
            "--set",
            "rateLimit.rate=30/60s,rateLimit.burst=45,sessionsNamespace=sessions",
            "--set",
            "extraArgs={--leeway=60}",
            "--set",
            "forwardedAllowIPs=10.0.0.0/8\\,192.168.1.1",
            "--set",
            "rbac.eventsNamespace=audit",
            namespace="scipian-prod",
        )
    )
    [deploy] = docs["Deployment"]
    args = backend_parser().parse_args(deploy["spec"]["template"]["spec"]["containers"][0]["args"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8080)  # noqa: S104
    assert args.namespace == "scipian-prod"
    assert args.sessions_namespace == "sessions"
    assert (args.issuer, args.client_id) == (ISSUER, "my-client")
    assert (args.username_claim, args.groups_claim) == ("preferred_username", "roles")
    assert (args.username_prefix, args.groups_prefix) == ("corp:", "")
    assert (args.rate_limit, args.rate_limit_burst, args.leeway) == ("30/60s", 45, 60)
    assert args.forwarded_allow_ips == "10.0.0.0/8,192.168.1.1"
    # Events go where the chart's Role lets the backend write them (break-glass needs it)
    assert args.event_namespace == "audit"
    [events_role] = [r for r in docs["Role"] if r["metadata"]["name"].endswith("-events")]
    assert events_role["metadata"]["namespace"] == "audit"
    parse_rate(args.rate_limit, args.rate_limit_burst)


def test_one_replica_has_no_disruption_budget(real_helm: Helm) -> None:
    docs = by_kind(render(real_helm, "--set", f"oidc.issuer={ISSUER}", "--set", "replicas=1"))
    assert "PodDisruptionBudget" not in docs
    assert docs["Deployment"][0]["spec"]["replicas"] == 1


# --- server-side dry run on the stack -----------------------------------------------------


def kube_version(stack: Stack, cluster: str) -> str:
    """major.minor of the cluster (its gitVersion is not semver, see the module doc)."""
    raw = stack.kubectl(cluster, "get", "--raw", "/version").stdout
    info = json.loads(raw)
    return f"v{info['major']}.{re.sub(r'[^0-9]', '', info['minor'])}.0"


def dry_run(stack: Stack, cluster: str, text: str) -> list[str]:
    done = stack.kubectl(cluster, "apply", "--dry-run=server", "-f", "-", input=text, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.endswith("(server dry run)") for line in lines), done.stdout
    return lines


@pytest.fixture
def namespace(stack: Stack) -> Iterator[str]:
    name = f"helm-chart-{uuid.uuid4().hex[:8]}"
    stack.kubectl("mgmt", "create", "namespace", name)
    try:
        yield name
    finally:
        stack.kubectl("mgmt", "delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.stack
def test_rendered_chart_passes_a_server_side_dry_run(
    stack: Stack, real_helm: Helm, namespace: str
) -> None:
    done = real_helm.run(
        "template",
        "scipian-dryrun",
        str(CHART),
        "--namespace",
        namespace,
        "--include-crds",
        "--kube-version",
        kube_version(stack, "mgmt"),
        "--set",
        f"oidc.issuer={stack.env['STACK_IDP_ISSUER']}",
    )
    assert done.returncode == 0, done.stderr
    lines = dry_run(stack, "mgmt", done.stdout)
    kinds = sorted(line.split("/")[0] for line in lines)
    assert kinds == sorted(
        [
            "customresourcedefinition.apiextensions.k8s.io",
            "customresourcedefinition.apiextensions.k8s.io",
            "customresourcedefinition.apiextensions.k8s.io",
            "serviceaccount",
            "clusterrole.rbac.authorization.k8s.io",
            "clusterrolebinding.rbac.authorization.k8s.io",
            "role.rbac.authorization.k8s.io",
            "role.rbac.authorization.k8s.io",
            "role.rbac.authorization.k8s.io",
            "role.rbac.authorization.k8s.io",  # scipian-dashboard
            "rolebinding.rbac.authorization.k8s.io",
            "rolebinding.rbac.authorization.k8s.io",
            "rolebinding.rbac.authorization.k8s.io",
            "rolebinding.rbac.authorization.k8s.io",
            "namespace",
            "namespace",  # scipian-dashboard
            "deployment.apps",
            "service",
            "poddisruptionbudget.policy",
            "networkpolicy.networking.k8s.io",
        ]
    ), lines
    # A dry run persists nothing.
    left = stack.kubectl(
        "mgmt", "get", "all,sa,pdb,role,rolebinding,netpol", "-n", namespace, "-o", "name"
    )
    assert left.stdout.split() == ["serviceaccount/default"]


@pytest.mark.stack
@pytest.mark.parametrize(
    ("cluster", "files"),
    [("mgmt", ["crd.yaml", "rbac.yaml", "deployment.yaml"]), ("dev", ["broker-role.yaml"])],
)
def test_raw_manifests_pass_a_server_side_dry_run(
    stack: Stack, cluster: str, files: list[str]
) -> None:
    text = "\n---\n".join((MANIFESTS / name).read_text() for name in files)
    lines = dry_run(stack, cluster, text)
    assert len(lines) == sum(len(manifest(name)) for name in files)

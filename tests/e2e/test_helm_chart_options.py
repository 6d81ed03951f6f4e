"""The chart's options, each on and off, rendered by the real helm; and its values schema.

Render snapshots: each option's objects as helm renders them, compared as parsed objects
(not text) with what the option must produce, and absent when it is off; the serve
arguments are parsed by the backend's own argument parser. Schema: a bad value per option
is refused by `helm template` (as by `helm install`) before anything renders, with helm's
own message, quoted here as helm 3 (tests/tools/helm) prints it. `helm lint --strict` with
every option on.

The NetworkPolicy is checked by render here and by the server-side dry run in
tests/e2e/test_helm_chart_install.py only: the stack's network (loopback, no CNI) enforces
no NetworkPolicy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scipian_backend.__main__ import parser as backend_parser
from tests.e2e.test_helm_chart import CHART, ISSUER, Helm, by_kind, client_go_kube_version, render
from tests.e2e.test_helm_chart import real_helm as real_helm  # the module's fixture
from tests.stack.paths import ROOT

NAME = "scipian-scipian-backend"  # the full name of release "scipian"
SELECTOR = {"app.kubernetes.io/name": "scipian-backend", "app.kubernetes.io/instance": "scipian"}
DASHBOARD = [
    "dashboard.enabled=true",
    "dashboard.clientID=scipian-ui",
    "dashboard.clientSecret.existingSecret=scipian-ui-oidc",
    "dashboard.publicURL=https://scipian.example.com",
]
INGRESS = [
    "ingress.enabled=true",
    "ingress.className=nginx",
    "ingress.hosts={scipian.example.com}",
    "ingress.tls[0].secretName=scipian-tls",
    "ingress.tls[0].hosts={scipian.example.com}",
    "ingress.annotations.cert-manager\\.io/cluster-issuer=corp",
]
HTTP_ROUTE = [
    "httpRoute.enabled=true",
    "httpRoute.parentRefs[0].name=public",
    "httpRoute.parentRefs[0].namespace=gateways",
    "httpRoute.parentRefs[0].sectionName=https",
    "httpRoute.hostnames={scipian.example.com}",
]
SERVICE_MONITOR = [
    "serviceMonitor.enabled=true",
    "serviceMonitor.labels.release=prometheus",
    "serviceMonitor.interval=15s",
]
EVERY_OPTION = DASHBOARD + INGRESS + HTTP_ROUTE + SERVICE_MONITOR


def sets(values: list[str]) -> list[str]:
    out = ["--set", f"oidc.issuer={ISSUER}"]
    for value in values:
        out += ["--set", value]
    return out


def rendered(h: Helm, values: list[str]) -> dict[str, list[dict[str, Any]]]:
    return by_kind(render(h, *sets(values)))


def the(docs: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    [obj] = docs[kind]
    assert obj["metadata"]["name"] == NAME
    assert obj["metadata"]["namespace"] == "scipian-system"
    assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "scipian"
    return obj


def pod_spec(docs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    spec: dict[str, Any] = the(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def serve_args(docs: dict[str, list[dict[str, Any]]]) -> Any:
    return backend_parser().parse_args(pod_spec(docs)["containers"][0]["args"])


def test_lint_strict_with_every_option_on(real_helm: Helm) -> None:
    done = real_helm.run("lint", "--strict", str(CHART), *sets(EVERY_OPTION))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_options_off_by_default_render_nothing_of_theirs(real_helm: Helm) -> None:
    docs = rendered(real_helm, [])
    assert not {"Ingress", "HTTPRoute", "ServiceMonitor"} & set(docs)
    args = serve_args(docs)
    assert (args.ui_client_id, args.ui_client_secret_file, args.public_url) == (None, None, None)
    pod = pod_spec(docs)
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "helm-scratch", "emptyDir": {"sizeLimit": "128Mi"}},
    ]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "helm-scratch", "mountPath": "/var/run/scipian/helm"},
    ]


def test_helm_off_runs_no_helm_and_mounts_no_scratch(real_helm: Helm) -> None:
    docs = rendered(real_helm, ["helm.path="])
    args = serve_args(docs)
    assert args.helm is None and args.helm_scratch_dir is None
    pod = pod_spec(docs)
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_helm_bounds_are_values(real_helm: Helm) -> None:
    docs = rendered(
        real_helm,
        ["helm.maxRuns=3", "helm.memoryBytes=268435456", "helm.cpuSeconds=60",
         "helm.termGraceSeconds=5", "helm.scratchBytes=1048576", "helm.scratchSizeLimit=8Mi"],
    )  # fmt: skip
    args = serve_args(docs)
    assert (args.helm_max_runs, args.helm_memory_bytes, args.helm_cpu_seconds) == (3, 268435456, 60)
    assert (args.helm_term_grace_seconds, args.helm_scratch_bytes) == (5, 1048576)
    assert {"name": "helm-scratch", "emptyDir": {"sizeLimit": "8Mi"}} in pod_spec(docs)["volumes"]


# --- the dashboard ---------------------------------------------------------------------


def test_dashboard_on_wires_the_serve_flags_and_a_secret_file(real_helm: Helm) -> None:
    docs = rendered(real_helm, [*DASHBOARD, "dashboard.sessionMaxSeconds=3600"])
    args = serve_args(docs)
    assert args.ui_client_id == "scipian-ui"
    assert args.public_url == "https://scipian.example.com"
    assert args.ui_session_max_seconds == 3600
    # Shared state (docs/decisions/dashboard-state.md): the defaults, and values.
    assert (args.ui_sessions_per_user, args.ui_keys_secret, args.ui_key_rotation_seconds) == (
        20,
        "scipian-dashboard-keys",
        604800,
    )
    changed = [
        *DASHBOARD,
        "dashboard.sessionsPerUser=5",
        "dashboard.keysSecret=ui-keys",
        "dashboard.keyRotationSeconds=0",
    ]
    args2 = serve_args(rendered(real_helm, changed))
    assert (args2.ui_sessions_per_user, args2.ui_keys_secret, args2.ui_key_rotation_seconds) == (
        5,
        "ui-keys",
        0,
    )
    # The secret reaches the backend as a file from the named Secret, never as a value.
    pod = pod_spec(docs)
    [mount] = [
        m for m in pod["containers"][0]["volumeMounts"] if m["name"] not in ("tmp", "helm-scratch")
    ]
    assert mount == {
        "name": "dashboard-client-secret",
        "mountPath": "/etc/scipian/dashboard",
        "readOnly": True,
    }
    assert args.ui_client_secret_file == mount["mountPath"] + "/client-secret"
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"] == {
        "secretName": "scipian-ui-oidc",
        "items": [{"key": "client-secret", "path": "client-secret"}],
        "defaultMode": 0o440,
    }
    assert pod["securityContext"]["fsGroup"] == 65532  # the group that may read it
    assert "Secret" not in docs  # the chart creates none: the platform team's own


def test_dashboard_secret_key_is_a_value(real_helm: Helm) -> None:
    docs = rendered(real_helm, [*DASHBOARD, "dashboard.clientSecret.key=oidc-secret"])
    [volume] = [v for v in pod_spec(docs)["volumes"] if "secret" in v]
    assert volume["secret"]["items"] == [{"key": "oidc-secret", "path": "client-secret"}]


# --- notifications ---------------------------------------------------------------------


def test_notify_off_by_default(real_helm: Helm) -> None:
    docs = rendered(real_helm, [])
    assert serve_args(docs).notify_url is None
    container = pod_spec(docs)["containers"][0]
    assert not [a for a in container["args"] if a.startswith("--notify")]
    assert "env" not in container


def test_notify_url_and_bounds_are_values(real_helm: Helm) -> None:
    docs = rendered(
        real_helm,
        ["notify.url=https://hooks.example.com/scipian", "notify.queue=50",
         "notify.timeoutSeconds=2", "notify.retries=0"],
    )  # fmt: skip
    args = serve_args(docs)
    assert args.notify_url == "https://hooks.example.com/scipian"
    assert (args.notify_queue, args.notify_timeout_seconds, args.notify_retries) == (50, 2.0, 0)


def test_notify_url_from_a_secret_is_never_an_argument(real_helm: Helm) -> None:
    docs = rendered(
        real_helm,
        ["notify.url=https://ignored.example.com", "notify.existingSecret=scipian-notify",
         "notify.key=webhook", "extraEnv[0].name=TZ", "extraEnv[0].value=UTC"],
    )  # fmt: skip
    container = pod_spec(docs)["containers"][0]
    assert not [a for a in container["args"] if a.startswith("--notify-url")]
    assert serve_args(docs).notify_queue == 1000
    assert container["env"] == [
        {
            "name": "SCIPIAN_NOTIFY_URL",
            "valueFrom": {"secretKeyRef": {"name": "scipian-notify", "key": "webhook"}},
        },
        {"name": "TZ", "value": "UTC"},
    ]


# --- forwarded addresses ---------------------------------------------------------------


def test_forwarded_allow_ips_default_is_loopback(real_helm: Helm) -> None:
    assert serve_args(rendered(real_helm, [])).forwarded_allow_ips == "127.0.0.1"


def test_forwarded_allow_ips_is_a_value(real_helm: Helm) -> None:
    docs = rendered(real_helm, ["forwardedAllowIPs=10.244.0.0/16"])
    assert serve_args(docs).forwarded_allow_ips == "10.244.0.0/16"


# --- hostNetwork and the API server's address (the stack's real node) ---------------------


def test_host_network_and_api_server_address_off_by_default(real_helm: Helm) -> None:
    spec = pod_spec(rendered(real_helm, []))
    assert "hostNetwork" not in spec
    assert "env" not in spec["containers"][0]


def test_host_network_and_api_server_address_are_values(real_helm: Helm) -> None:
    spec = pod_spec(
        rendered(
            real_helm,
            ["hostNetwork=true", "kubernetesService.host=127.0.0.1", "kubernetesService.port=6443"],
        )
    )
    assert spec["hostNetwork"] is True
    assert spec["containers"][0]["env"] == [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
    ]


def test_api_server_host_without_port_is_refused(real_helm: Helm) -> None:
    done = real_helm.run(
        "template", "scipian", str(CHART), "--kube-version", client_go_kube_version(),
        *sets(["kubernetesService.host=127.0.0.1"]),
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "kubernetesService.port is required with kubernetesService.host" in done.stderr


# --- Ingress ---------------------------------------------------------------------------


def test_ingress_on(real_helm: Helm) -> None:
    ingress = the(rendered(real_helm, INGRESS), "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "corp"}
    assert ingress["spec"] == {
        "ingressClassName": "nginx",
        "tls": [{"secretName": "scipian-tls", "hosts": ["scipian.example.com"]}],
        "rules": [
            {
                "host": "scipian.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": NAME, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }


def test_ingress_without_class_or_tls_leaves_them_out(real_helm: Helm) -> None:
    ingress = the(
        rendered(
            real_helm, ["ingress.enabled=true", "ingress.hosts={a.example.com,b.example.com}"]
        ),
        "Ingress",
    )
    assert "annotations" not in ingress["metadata"]
    assert set(ingress["spec"]) == {"rules"}
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["a.example.com", "b.example.com"]


# --- Gateway API HTTPRoute ---------------------------------------------------------------


def test_http_route_on(real_helm: Helm) -> None:
    route = the(rendered(real_helm, HTTP_ROUTE), "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"] == {
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["scipian.example.com"],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"name": NAME, "port": 80}],
            }
        ],
    }


def test_http_route_follows_the_service_port(real_helm: Helm) -> None:
    docs = rendered(real_helm, [*HTTP_ROUTE, "service.port=8443"])
    [service] = docs["Service"]
    assert the(docs, "HTTPRoute")["spec"]["rules"][0]["backendRefs"] == [
        {"name": service["metadata"]["name"], "port": service["spec"]["ports"][0]["port"]}
    ]


# --- NetworkPolicy -----------------------------------------------------------------------


def test_network_policy_default(real_helm: Helm) -> None:
    policy = the(rendered(real_helm, []), "NetworkPolicy")
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": SELECTOR},
        "policyTypes": ["Ingress", "Egress"],
        # To the container port only, from anywhere (the ingress controller's address is
        # the platform's).
        "ingress": [{"ports": [{"protocol": "TCP", "port": 8080}]}],
        "egress": [
            {  # API servers: mgmt's (behind the kubernetes Service) and the targets'
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]
            },
            {"ports": [{"protocol": "TCP", "port": 443}]},  # the OIDC provider
            {
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        }
                    }
                ],
            },
        ],
    }


def test_network_policy_narrowed_by_values(real_helm: Helm) -> None:
    policy = the(
        rendered(
            real_helm,
            [
                "containerPort=9000",
                "networkPolicy.ingress.from[0].namespaceSelector.matchLabels.team=ingress",
                "networkPolicy.egress.apiservers.cidrs={10.0.0.1/32,192.0.2.0/24}",
                "networkPolicy.egress.apiservers.ports={6443}",
                "networkPolicy.egress.oidc.cidrs={198.51.100.7/32}",
                "networkPolicy.egress.oidc.ports={8443}",
                "networkPolicy.egress.dns.to=null",
                "networkPolicy.egress.extra[0].ports[0].port=9093",
                "networkPolicy.egress.extra[0].to[0].ipBlock.cidr=203.0.113.0/24",
            ],
        ),
        "NetworkPolicy",
    )
    assert policy["spec"]["ingress"] == [
        {
            "ports": [{"protocol": "TCP", "port": 9000}],
            "from": [{"namespaceSelector": {"matchLabels": {"team": "ingress"}}}],
        }
    ]
    assert policy["spec"]["egress"] == [
        {
            "ports": [{"protocol": "TCP", "port": 6443}],
            "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}, {"ipBlock": {"cidr": "192.0.2.0/24"}}],
        },
        {
            "ports": [{"protocol": "TCP", "port": 8443}],
            "to": [{"ipBlock": {"cidr": "198.51.100.7/32"}}],
        },
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"ports": [{"port": 9093}], "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]},
    ]


@pytest.mark.parametrize(
    "notify",
    [["notify.url=https://hooks.example.com/scipian"], ["notify.existingSecret=scipian-notify"]],
)
def test_network_policy_lets_notifications_out(real_helm: Helm, notify: list[str]) -> None:
    narrowed = ["networkPolicy.egress.notify.cidrs={203.0.113.9/32}"]
    rules = the(rendered(real_helm, notify + narrowed), "NetworkPolicy")["spec"]["egress"]
    assert rules[2] == {
        "ports": [{"protocol": "TCP", "port": 443}],
        "to": [{"ipBlock": {"cidr": "203.0.113.9/32"}}],
    }
    assert len(rules) == 4  # API servers, OIDC provider, the receiver, DNS
    # Without notifications the receiver's rule is left out, whatever its values.
    off = the(rendered(real_helm, narrowed), "NetworkPolicy")["spec"]["egress"]
    assert len(off) == 3 and all(r.get("to") != rules[2]["to"] for r in off)


def test_network_policy_off(real_helm: Helm) -> None:
    assert "NetworkPolicy" not in rendered(real_helm, ["networkPolicy.enabled=false"])


# --- ServiceMonitor ----------------------------------------------------------------------


def test_service_monitor_on(real_helm: Helm) -> None:
    docs = rendered(real_helm, SERVICE_MONITOR)
    monitor = the(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"] == {
        "selector": {"matchLabels": SELECTOR},
        "namespaceSelector": {"matchNames": ["scipian-system"]},
        "endpoints": [
            {"port": "http", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
        ],
    }
    # It selects the Service (by its labels), on the Service's named port.
    [service] = docs["Service"]
    assert SELECTOR.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == "http"


# --- the values schema: helm's own refusal, per option ------------------------------------

HEAD = (
    "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
    "scipian-backend:\n"
)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            ["dashboard.enabled=true"],
            "- at '/dashboard': 'allOf' failed\n"
            "  - at '/dashboard': validation failed\n"
            "    - at '/dashboard/clientSecret/existingSecret': minLength: got 0, want 1\n"
            "    - at '/dashboard/publicURL': minLength: got 0, want 1\n"
            "    - at '/dashboard/clientID': minLength: got 0, want 1\n",
            id="dashboard-without-client",
        ),
        pytest.param(
            [*DASHBOARD, "dashboard.publicURL=scipian.example.com"],
            "- at '/dashboard/publicURL': 'scipian.example.com' does not match pattern "
            r"'^(https?://[^\\s/?#]+(/[^\\s?#]*)?)?$'"
            "\n",
            id="dashboard-url-not-http",
        ),
        pytest.param(
            [*DASHBOARD, "dashboard.clientSecret.value=hunter2"],
            "- at '/dashboard/clientSecret': additional properties 'value' not allowed\n",
            id="dashboard-secret-inline",
        ),
        pytest.param(
            [*DASHBOARD, "dashboard.sessionMaxSeconds=0"],
            "- at '/dashboard/sessionMaxSeconds': minimum: got 0, want 1\n",
            id="dashboard-session-zero",
        ),
        pytest.param(
            ["notify.url=ftp://hooks.example.com/x"],
            "- at '/notify/url': 'ftp://hooks.example.com/x' does not match pattern "
            r"'^(https?://[^\\s/?#]+(/[^\\s]*)?)?$'"
            "\n",
            id="notify-url-not-http",
        ),
        pytest.param(
            ["notify.queue=0"],
            "- at '/notify/queue': minimum: got 0, want 1\n",
            id="notify-queue-zero",
        ),
        pytest.param(
            [*DASHBOARD, "dashboard.keysSecret=Keys_1"],
            "- at '/dashboard/keysSecret': 'Keys_1' does not match pattern "
            "'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'\n",
            id="dashboard-keys-secret-name",
        ),
        pytest.param(
            [*DASHBOARD, "dashboard.keyRotationSeconds=-1"],
            "- at '/dashboard/keyRotationSeconds': minimum: got -1, want 0\n",
            id="dashboard-key-rotation-negative",
        ),
        pytest.param(
            ["forwardedAllowIPs=10.0.0.0/8 10.1.0.0/16"],
            "- at '/forwardedAllowIPs': '10.0.0.0/8 10.1.0.0/16' does not match pattern "
            r"'^(\\*|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)$'"
            "\n",
            id="forwarded-allow-ips",
        ),
        pytest.param(
            ["ingress.enabled=true"],
            "- at '/ingress': 'allOf' failed\n  - at '/ingress/hosts': minItems: got 0, want 1\n",
            id="ingress-without-hosts",
        ),
        pytest.param(
            ["ingress.enabled=true", "ingress.hosts={https://scipian.example.com}"],
            "- at '/ingress/hosts/0': 'https://scipian.example.com' does not match pattern "
            r"'^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"
            "\n",
            id="ingress-host-a-url",
        ),
        pytest.param(
            ["httpRoute.enabled=true"],
            "- at '/httpRoute': 'allOf' failed\n"
            "  - at '/httpRoute/parentRefs': minItems: got 0, want 1\n",
            id="http-route-without-parent",
        ),
        pytest.param(
            ["httpRoute.enabled=true", "httpRoute.parentRefs[0].namespace=gateways"],
            "- at '/httpRoute/parentRefs/0': missing property 'name'\n",
            id="http-route-parent-without-name",
        ),
        pytest.param(
            ["networkPolicy.egress.apiservers.cidrs={10.0.0.1}"],
            "- at '/networkPolicy/egress/apiservers/cidrs/0': '10.0.0.1' does not match pattern "
            r"'^([0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9A-Fa-f:]+/[0-9]{1,3})$'"
            "\n",
            id="network-policy-cidr",
        ),
        pytest.param(
            ["networkPolicy.egress.oidc.ports={0}"],
            "- at '/networkPolicy/egress/oidc/ports/0': minimum: got 0, want 1\n",
            id="network-policy-port",
        ),
        pytest.param(
            ["serviceMonitor.enabled=true", "serviceMonitor.interval=often"],
            "- at '/serviceMonitor/interval': 'often' does not match pattern "
            r"'^([0-9]+(ms|s|m|h))+$'"
            "\n",
            id="service-monitor-interval",
        ),
        pytest.param(
            ["hostNetwork=yes"],
            "- at '/hostNetwork': got string, want boolean\n",
            id="host-network-not-a-boolean",
        ),
        pytest.param(
            ["kubernetesService.host=127.0.0.1", "kubernetesService.port=https"],
            "- at '/kubernetesService/port': 'https' does not match pattern '^([0-9]{1,5})?$'\n",
            id="api-server-port-a-name",
        ),
        pytest.param(
            ["replica=3"],
            "- at '': additional properties 'replica' not allowed\n",
            id="misspelt-value",
        ),
    ],
)
def test_schema_refuses_a_bad_value_with_helms_message(
    real_helm: Helm, values: list[str], message: str
) -> None:
    done = real_helm.run(
        "template", "scipian", str(CHART), "--kube-version", client_go_kube_version(), *sets(values)
    )
    assert done.returncode == 1
    assert done.stdout == ""  # nothing rendered
    # Exactly helm's lines; siblings under one failed rule come in no fixed order.
    assert done.stderr.startswith(HEAD), done.stderr
    got = done.stderr[len(HEAD) :].splitlines()
    assert sorted(got) == sorted([*message.splitlines(), ""]), done.stderr


def test_the_readmes_values_install_as_written(real_helm: Helm, tmp_path: Path) -> None:
    """README "Deploying the backend": its values file passes the schema and renders."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploying the backend\n") :]
    body = section[
        section.index("<<'VALUES'\n") + len("<<'VALUES'\n") : section.index("\nVALUES\n")
    ]
    values = tmp_path / "scipian-values.yaml"
    values.write_text(body + "\n")
    done = real_helm.run(
        "template",
        "scipian-backend",
        str(CHART),
        "--namespace",
        "scipian-system",
        "--kube-version",
        client_go_kube_version(),
        "-f",
        str(values),
    )
    assert done.returncode == 0, done.stderr
    docs = by_kind([d for d in yaml.safe_load_all(done.stdout) if d])
    assert {"Ingress", "NetworkPolicy"} <= set(docs)
    [deploy] = docs["Deployment"]
    args = backend_parser().parse_args(deploy["spec"]["template"]["spec"]["containers"][0]["args"])
    assert args.ui_client_id == "scipian-dashboard"
    assert args.forwarded_allow_ips == "10.244.0.0/16"

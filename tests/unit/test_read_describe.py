"""Pure pieces of the describers: quantities, selectors, tolerations, times, probes, endpoints."""

from __future__ import annotations

import base64
import os
import time
from typing import Any, cast

import pytest

from kubectl_scipian.read.describers import common, quantity
from kubectl_scipian.read.describers.fields import (
    format_selector,
    rfc1123z,
    selector_string,
    taint_string,
    toleration_string,
)
from kubectl_scipian.read.describers.output import Out
from kubectl_scipian.read.describers.pod import describe_probe
from kubectl_scipian.read.describers.service import format_endpoint_slices
from kubectl_scipian.read.discovery import Resource


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["100m", "200m"], "300m"),
        (["500m", "500m"], "1"),
        (["1", "500m"], "1500m"),
        (["64Mi", "128Mi"], "192Mi"),
        (["512Mi", "512Mi"], "1Gi"),
        (["1000"], "1k"),
        (["1500"], "1500"),
        (["0"], "0"),
        (["1Ki", "1"], "1025"),
        (["100M", "1Gi"], "1173741824"),
        (["12e6"], "12e6"),
        (["0.5"], "500m"),
    ],
)
def test_quantity_sum_prints_like_go(parts: list[str], text: str) -> None:
    total = quantity.parse(parts[0])
    for p in parts[1:]:
        total = total + quantity.parse(p)
    assert str(total) == text


def test_quantity_rounds_up_for_milli_and_whole_values() -> None:
    assert quantity.parse("1500m").milli() == 1500
    assert quantity.parse("1500m").whole() == 2
    assert quantity.parse("1Mi").whole() == 1048576


def test_selectors_sort_requirements_by_key() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "track", "operator": "NotIn", "values": ["canary", "beta"]},
            {"key": "env", "operator": "In", "values": ["prod"]},
            {"key": "c", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "a=1,b=2,c,!d,env in (prod),track notin (beta,canary)"
    assert format_selector({}) == "<none>"
    assert format_selector(None) == "<none>"


@pytest.mark.parametrize(
    ("toleration", "text"),
    [
        ({"operator": "Exists"}, "op=Exists"),
        ({"key": "k", "operator": "Exists"}, "k op=Exists"),
        ({"key": "k", "value": "v", "effect": "NoSchedule"}, "k=v:NoSchedule"),
        (
            {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            "k:NoExecute op=Exists for 300s",
        ),
    ],
)
def test_tolerations(toleration: dict[str, Any], text: str) -> None:
    assert toleration_string(toleration) == text


def test_taints() -> None:
    assert taint_string({"key": "a", "value": "b", "effect": "NoSchedule"}) == "a=b:NoSchedule"
    assert taint_string({"key": "a", "effect": "NoExecute"}) == "a:NoExecute"


def test_rfc1123z_in_the_local_zone() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    try:
        assert rfc1123z("2026-11-24T10:05:05Z") == "Tue, 24 Nov 2026 15:35:05 +0530"
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert rfc1123z(None) == "Mon, 01 Jan 0001 00:00:00 +0000"


@pytest.mark.parametrize(
    ("probe", "text"),
    [
        (
            {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}},
            "http-get http://:8080/healthz",
        ),
        ({"httpGet": {"path": "healthz", "port": 8080}}, "http-get //:8080/healthz"),
        (
            {"httpGet": {"path": "/", "port": "web", "host": "::1", "scheme": "HTTPS"}},
            "http-get https://[::1]:web/",
        ),
        ({"tcpSocket": {"port": "http"}}, "tcp-socket :http"),
        ({"exec": {"command": ["cat", "/x"]}}, "exec [cat /x]"),
        ({"grpc": {"port": 9000, "service": "h"}}, "grpc <pod>:9000 h"),
    ],
)
def test_probes(probe: dict[str, Any], text: str) -> None:
    probe = {**probe, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1}
    attrs = "delay=0s timeout=1s period=10s #success=1 #failure=0"
    assert describe_probe(probe) == f"{text} {attrs}"


def test_endpoints_show_three_ready_addresses_then_a_count() -> None:
    endpoints = [
        {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": i != 2}} for i in range(1, 7)
    ]
    slices = [{"ports": [{"name": "http", "port": 80}], "endpoints": endpoints}]
    assert format_endpoint_slices(slices, {"http"}) == (
        "10.0.0.1:80,10.0.0.3:80,10.0.0.4:80 + 2 more..."
    )
    assert format_endpoint_slices(slices, {"other"}) == ""
    assert format_endpoint_slices([], {"http"}) == "<none>"


def test_secret_prints_sizes_and_never_a_value() -> None:
    secret = {
        "metadata": {"name": "s", "namespace": "n"},
        "type": "kubernetes.io/service-account-token",
        "data": {
            "token": base64.b64encode(b"eyJhbGciOiJSUzI1NiJ9.secret-value").decode(),
            "ca.crt": base64.b64encode(b"-----BEGIN-----").decode(),
        },
    }
    out = Out()
    res = Resource("", "v1", "secrets", "Secret", True)
    common.secret(cast(Any, None), res, secret, out, True)
    text = out.text()
    assert "secret-value" not in text
    assert "token:   33 bytes\n" in text
    assert "ca.crt:  15 bytes\n" in text


# --- RBAC rules, quotas, certificate requests -----------------------------------------------------


def test_rbac_rules_are_broken_down_compacted_and_sorted() -> None:
    from kubectl_scipian.read.describers.rbac import breakdown, compact

    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["a", "b"],
            "verbs": ["get"],
        },
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]
    got = [
        (r.resources, r.names, r.urls, r.verbs)
        for r in compact([b for rule in rules for b in breakdown(rule)])
    ]
    # PolicyRule.String() order: verbs first, then `APIGroups:[]` (core, none) before `[apps]`
    assert got == [
        (["configmaps"], [], [], ["get", "list", "create"]),
        ([], [], ["/healthz"], ["get"]),
        (["secrets"], ["a"], [], ["get"]),
        (["secrets"], ["b"], [], ["get"]),
        (["deployments"], [], [], ["get"]),
    ]


@pytest.mark.parametrize(
    ("used", "hard", "text"),
    [(None, "10", "0"), ("3", "10", "3"), ("512Mi", "1G", "536870912"), ("500m", "2Gi", "1")],
)
def test_quota_used_in_the_format_of_hard(used: str | None, hard: str, text: str) -> None:
    from kubectl_scipian.read.describers.quota import _as_format

    assert _as_format(used, hard) == text


def test_certificate_request_subject_and_names() -> None:
    """A real PKCS#10 request (made with the `cryptography` the backend's tests bring)."""
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from kubectl_scipian.read.describers.certificates import parse_request

    names = [
        x509.NameAttribute(NameOID.COMMON_NAME, "first"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qä"),
        x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
        x509.NameAttribute(NameOID.POSTAL_CODE, "10115"),
    ]
    alt = [
        x509.DNSName("a.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8:0:0:1:0:0:1")),
        x509.RFC822Name("a@example.com"),
        x509.UniformResourceIdentifier("spiffe://x/" + "a" * 200),
    ]
    pem = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(names))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    request = parse_request(pem)
    assert request.subject == {
        "Common Name": ["alice"],  # the last one, as Go's pkix.Name keeps it
        "Organization": ["dev", "qä"],
        "PostalCode": ["10115"],
    }
    assert request.sans == {
        "DNS Names": ["a.example.com"],
        "IP Addresses": ["10.0.0.1", "2001:db8::1:0:0:1"],
        "Email Addresses": ["a@example.com"],
        "URIs": ["spiffe://x/" + "a" * 200],
    }

"""Release records as Helm's drivers store them, decoded and redacted (pure).

The records here are built the way Helm's storage driver encodes them (JSON, gzip, base64;
a Secret adds Kubernetes' base64); the e2e parity tests read records the real Helm wrote.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from scipian_backend.releases import records

SECRET_VALUE = "s3cr3t-value"
RELEASE: dict[str, Any] = {
    "name": "web.v2",
    "namespace": "shop",
    "version": 3,
    "info": {
        "first_deployed": "2026-11-29T10:00:00.5Z",
        "last_deployed": "2026-11-29T11:00:00.123456789Z",
        "deleted": "",
        "description": "Upgrade complete",
        "status": "deployed",
        "notes": f"key {SECRET_VALUE}",
        "resources": {"v1/Secret": [{"data": {"k": SECRET_VALUE}}]},
    },
    "chart": {
        "metadata": {"name": "shop-web", "version": "1.1.0", "appVersion": "1.1"},
        "templates": [{"name": "t.yaml", "data": SECRET_VALUE}],
        "values": {"apiKey": SECRET_VALUE},
        "files": [{"name": "f", "data": SECRET_VALUE}],
    },
    "config": {"apiKey": SECRET_VALUE},
    "manifest": f"kind: Secret\ndata: {SECRET_VALUE}",
    "hooks": [
        {
            "name": "web-test",
            "events": ["test"],
            "manifest": SECRET_VALUE,
            "last_run": {"started_at": "2026-11-29T11:01:00Z", "completed_at": "", "phase": "Ok"},
        }
    ],
    "apply_method": "ssa",
}


def helm_payload(doc: dict[str, Any], *, gzipped: bool = True) -> str:
    raw = json.dumps(doc).encode()
    return base64.b64encode(gzip.compress(raw) if gzipped else raw).decode()


def stored(driver: str, payload: str, name: str = "sh.helm.release.v1.web.v2.v3") -> records.Record:
    data = base64.b64encode(payload.encode()).decode() if driver == "secret" else payload
    obj = {
        "metadata": {"name": name, "namespace": "shop", "labels": {"owner": "helm"}},
        "data": {"release": data},
    }
    return records.record_of(obj, driver)


@pytest.mark.parametrize("driver", ["secret", "configmap"])
@pytest.mark.parametrize("gzipped", [True, False])
def test_both_drivers_with_and_without_gzip(driver: str, gzipped: bool) -> None:
    rel = records.summary(stored(driver, helm_payload(RELEASE, gzipped=gzipped)))
    assert rel["name"] == "web.v2" and rel["version"] == 3 and rel["driver"] == driver
    assert rel["chart"] == {"metadata": RELEASE["chart"]["metadata"]}


def test_redaction_keeps_only_what_helm_prints() -> None:
    rel = records.summary(stored("secret", helm_payload(RELEASE)))
    assert SECRET_VALUE not in json.dumps(rel)
    assert set(rel) == {
        "name",
        "namespace",
        "version",
        "info",
        "driver",
        "chart",
        "apply_method",
        "tests",
    }
    assert list(rel["info"]) == ["first_deployed", "last_deployed", "description", "status"]
    assert rel["tests"] == [
        {
            "name": "web-test",
            "started_at": "2026-11-29T11:01:00Z",
            "completed_at": "",
            "phase": "Ok",
        }
    ]


@pytest.mark.parametrize(
    ("object_name", "labels", "name", "revision"),
    [
        ("sh.helm.release.v1.web.v2.v3", {}, "web.v2", 3),
        ("sh.helm.release.v1.a.b.c.v12", {}, "a.b.c", 12),
        ("sh.helm.release.v1.x.v1", {"name": "x", "version": "1"}, "x", 1),
    ],
)
def test_names_with_dots(
    object_name: str, labels: dict[str, str], name: str, revision: int
) -> None:
    record = records.Record("secret", object_name, "ns", labels, None)
    assert (records.release_name(record), records.revision(record)) == (name, revision)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (None, "no `release` key"),
        ("%%%not-base64", "not base64"),
        (base64.b64encode(b"\x1f\x8b\x08garbage").decode(), "bad gzip stream"),
        (base64.b64encode(b"{not json").decode(), "not JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "not a JSON object"),
    ],
)
def test_undecodable_records_are_reported_not_dropped(payload: str | None, why: str) -> None:
    record = records.Record("configmap", "sh.helm.release.v1.web.v2.v4", "shop", {}, payload)
    rel = records.summary(record)
    assert rel["name"] == "web.v2" and rel["version"] == 4
    assert rel["info"]["status"] == "unknown"
    assert rel["error"] == f"configmap shop/sh.helm.release.v1.web.v2.v4: {why}"


def test_latest_per_release_before_decoding() -> None:
    found = [
        records.Record("secret", f"sh.helm.release.v1.{n}.v{v}", ns, {}, None)
        for n, v, ns in [
            ("a", 1, "x"),
            ("a", 10, "x"),
            ("a", 2, "x"),
            ("a", 1, "y"),
            ("a.v2", 3, "x"),
        ]
    ]
    latest = {
        (r.namespace, records.release_name(r)): records.revision(r)
        for r in records.latest_per_release(found)
    }
    assert latest == {("x", "a"): 10, ("y", "a"): 1, ("x", "a.v2"): 3}


# --- hostile records (security review H5, L5): bounded, reported, never a 500 -------------


def planted(payload: str, name: str = "x", revision: int = 1) -> records.Record:
    """A ConfigMap record as anyone who may create ConfigMaps in `evil` can plant it."""
    obj = {
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{revision}",
            "namespace": "evil",
            "labels": {"owner": "helm", "name": name, "version": str(revision)},
        },
        "data": {"release": payload},
    }
    return records.record_of(obj, "configmap", records.DecodeLimits(max_decompressed=1 << 20))


def test_deep_nesting_is_undecodable_not_a_recursion_error() -> None:
    # The review's 760-byte record: 5,000 nested lists.
    payload = base64.b64encode(gzip.compress(b"[" * 5000 + b"]" * 5000)).decode()
    assert len(payload) < 1000
    rel = records.summary(planted(payload))
    assert rel["info"]["status"] == "unknown"
    assert rel["error"].endswith("nested deeper than 100 levels")


def test_nesting_just_past_the_limit_is_refused_and_at_it_accepted() -> None:
    def nested(depth: int) -> str:  # the record's object, then depth - 1 more levels
        inner = '{"a":' * (depth - 1) + "1" + "}" * (depth - 1)
        return helm_payload({"name": "x", "version": 1, "config": json.loads(inner)})

    limits = records.DecodeLimits(max_depth=10)
    at = planted(nested(10))._replace(limits=limits)
    past = planted(nested(11))._replace(limits=limits)
    assert "error" not in records.summary(at)
    assert records.summary(past)["error"].endswith("nested deeper than 10 levels")


def test_gzip_bomb_stops_at_the_cap_while_inflating() -> None:
    bomb = gzip.compress(b'{"a":"' + b"A" * (64 << 20) + b'"}')  # 64 MiB of JSON, ~64 KB
    rel = records.summary(planted(base64.b64encode(bomb).decode()))
    assert rel["info"]["status"] == "unknown"
    assert rel["error"].endswith(f"inflates to more than {1 << 20} bytes")


def test_concatenated_gzip_members_count_against_one_cap() -> None:
    half = gzip.compress(b" " * (600 << 10))
    doc = gzip.compress(json.dumps({"name": "x", "version": 1}).encode())
    rel = records.summary(planted(base64.b64encode(half + half + doc).decode()))
    assert rel["error"].endswith("inflates to more than 1048576 bytes")
    fine = records.summary(planted(base64.b64encode(half + doc).decode()))
    assert "error" not in fine and fine["name"] == "x"


def test_payload_over_the_size_cap_is_not_decoded() -> None:
    limits = records.DecodeLimits(max_payload=100)
    record = planted(helm_payload({"name": "x", "pad": "p" * 200}, gzipped=False))
    record = record._replace(limits=limits)
    assert records.summary(record)["error"].endswith("larger than 100 bytes")


def test_uncompressed_payload_over_the_decompressed_cap() -> None:
    limits = records.DecodeLimits(max_decompressed=100)
    payload = helm_payload({"name": "x", "pad": "p" * 200}, gzipped=False)
    record = planted(payload)._replace(limits=limits)
    assert records.summary(record)["error"].endswith("larger than 100 bytes of JSON")


@pytest.mark.parametrize(
    "claims",
    [
        {"name": "payments-api", "namespace": "evil", "version": 1},
        {"name": "x", "namespace": "payments", "version": 1},
        {"name": "x", "namespace": "evil", "version": 7},
    ],
)
def test_payload_naming_another_release_is_refused(claims: dict[str, Any]) -> None:
    doc = {**claims, "info": {"status": "deployed"}}
    rel = records.summary(planted(helm_payload(doc)))
    assert (rel["name"], rel["namespace"], rel["version"]) == ("x", "evil", 1)
    assert rel["info"]["status"] == "unknown"
    assert rel["error"].endswith("its payload names another release, namespace or revision")


def test_names_come_from_the_object() -> None:
    doc = {"name": "x", "namespace": "evil", "version": 1, "info": {"status": "deployed"}}
    rel = records.summary(planted(helm_payload(doc)))
    assert (rel["name"], rel["namespace"], rel["version"]) == ("x", "evil", 1)
    assert rel["info"]["status"] == "deployed" and "error" not in rel


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        records.DecodeLimits(max_depth=0)

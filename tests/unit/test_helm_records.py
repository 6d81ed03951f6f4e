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

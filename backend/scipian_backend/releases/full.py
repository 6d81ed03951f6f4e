"""Whole release records (manifest, hooks, config) for the backend's own use: verification
compares them with helm's `-o json` (change.md §5). Never returned as data.

Only Secrets of type helm.sh/release.v1 count (the executor's helm runs with
HELM_DRIVER=secret; a ConfigMap or a Secret of another type anyone with `create` there
could plant). Name, namespace and revision come from the object and its labels, never from
the payload (records.decode refuses a payload naming another release), and decoding keeps
the read side's bounds (DecodeLimits). An undecodable record is left out: it is no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from scipian_backend import kube
from scipian_backend.helmrun.output import OutputError, release_of
from scipian_backend.releases.records import (
    DEFAULT_LIMITS,
    RECORD_PREFIX,
    DecodeLimits,
    Record,
    UndecodableRecord,
    decode,
    record_of,
    release_name,
    revision,
)

RECORD_TYPE = "helm.sh/release.v1"


@dataclass(frozen=True)
class FullRecord:
    revision: int
    status: str
    manifest: str
    hooks: list[str] = field(default_factory=list)  # each hook's manifest
    config: dict[str, Any] = field(default_factory=dict)
    chart_name: str = ""
    chart_version: str = ""
    secret_type: str = RECORD_TYPE

    def __repr__(self) -> str:  # never the manifest or the values
        return f"FullRecord(revision={self.revision}, status={self.status!r})"


def read_records(
    target: client.ApiClient,
    namespace: str,
    release: str,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    timeout: float = 10.0,
) -> list[FullRecord]:
    """Every decodable record of `release` in `namespace`, by revision."""
    doc = kube.json_body(
        client.CoreV1Api(target).list_namespaced_secret(
            namespace,
            label_selector=f"owner=helm,name={release}",
            _request_timeout=timeout,
            _preload_content=False,
        )
    )
    found = [_full(item, release, limits) for item in doc.get("items") or []]
    return sorted((r for r in found if r is not None), key=lambda r: r.revision)


def read_revision(
    target: client.ApiClient,
    namespace: str,
    release: str,
    rev: int,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    timeout: float = 10.0,
) -> FullRecord | None:
    """The record of one revision (one GET by its name), or None."""
    try:
        item = kube.json_body(
            client.CoreV1Api(target).read_namespaced_secret(
                f"{RECORD_PREFIX}{release}.v{rev}",
                namespace,
                _request_timeout=timeout,
                _preload_content=False,
            )
        )
    except ApiException as e:
        if kube.status_of(e) == 404:
            return None
        raise
    found = _full(item, release, limits)
    return found if found is not None and found.revision == rev else None


def _full(item: dict[str, Any], release: str, limits: DecodeLimits) -> FullRecord | None:
    if item.get("type") != RECORD_TYPE:
        return None
    record: Record = record_of(item, "secret", limits)
    if record.labels.get("owner") != "helm" or release_name(record) != release:
        return None
    rev = revision(record)
    if rev < 1:
        return None
    try:
        doc = decode(record)
        out = release_of({**doc, "version": rev})
    except (UndecodableRecord, OutputError):
        return None
    return FullRecord(
        revision=rev,
        status=out.status,
        manifest=out.manifest,
        hooks=out.hooks,
        config=out.config,
        chart_name=out.chart_name,
        chart_version=out.chart_version,
        secret_type=RECORD_TYPE,
    )

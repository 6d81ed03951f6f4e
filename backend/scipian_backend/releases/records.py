"""Helm release records: decoding both storage drivers and redacting to Helm's tables (pure).

A record is one Secret (type helm.sh/release.v1, the default driver) or ConfigMap (the
configmap driver) named `sh.helm.release.v1.<name>.v<revision>`, labelled owner=helm, whose
`release` key holds base64(gzip(JSON)) (gzip skipped when its magic is absent, as Helm's
own decoder does). A Secret's data adds Kubernetes' base64 layer on top.

`summary()` keeps only what Helm's list, history and status print: never `config`,
`manifest`, hooks (their test runs' names, times and phase excepted), `info.notes`,
`info.resources`, or the chart's values, templates, files, schema or lock.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any, NamedTuple

RECORD_PREFIX = "sh.helm.release.v1."
GZIP_MAGIC = b"\x1f\x8b\x08"
ZERO_TIMES = ("", "0001-01-01T00:00:00Z")
# Release.info fields that the redacted answer keeps, in Helm's own order.
INFO_FIELDS = (
    "first_deployed",
    "last_deployed",
    "deleted",
    "description",
    "status",
    "rollback_revision",
)


class UndecodableRecord(ValueError):
    """A release record that is not what Helm writes; the message names why, never data."""


class Record(NamedTuple):
    """A record as stored: where it lives and its (encoded) payload."""

    driver: str  # "secret" | "configmap"
    name: str  # the object's name
    namespace: str
    labels: dict[str, str]
    payload: str | None  # the `release` key: Kubernetes-base64 for a Secret, Helm's for a ConfigMap


def record_of(obj: dict[str, Any], driver: str) -> Record:
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    payload = data.get("release") if isinstance(data, dict) else None
    return Record(
        driver,
        str(meta.get("name") or ""),
        str(meta.get("namespace") or ""),
        {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        payload if isinstance(payload, str) else None,
    )


def release_name(record: Record) -> str:
    """The release's name: the `name` label, else the object name without prefix and
    `.v<revision>` (split at the LAST `.v`, so dotted release names stay whole)."""
    if record.labels.get("name"):
        return record.labels["name"]
    stem = record.name.removeprefix(RECORD_PREFIX)
    head, sep, tail = stem.rpartition(".v")
    return head if sep and tail.isdigit() else stem


def revision(record: Record) -> int:
    label = record.labels.get("version", "")
    if label.isdigit():
        return int(label)
    _, sep, tail = record.name.rpartition(".v")
    return int(tail) if sep and tail.isdigit() else 0


def decode(record: Record) -> dict[str, Any]:
    """The release JSON object of a record, as Helm's driver decodes it."""
    if record.payload is None:
        raise UndecodableRecord("no `release` key")
    text = record.payload
    try:
        if record.driver == "secret":
            text = base64.b64decode(text, validate=True).decode("ascii")
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, UnicodeDecodeError):
        raise UndecodableRecord("not base64") from None
    if raw[:3] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise UndecodableRecord("bad gzip stream") from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UndecodableRecord("not JSON") from None
    if not isinstance(doc, dict):
        raise UndecodableRecord("not a JSON object")
    return doc


def summary(record: Record) -> dict[str, Any]:
    """The redacted release of one record; an undecodable one is kept, flagged by `error`
    (status unknown, no chart), so that it is reported, never dropped."""
    try:
        doc = decode(record)
    except UndecodableRecord as e:
        return {
            "name": release_name(record),
            "namespace": record.namespace,
            "version": revision(record),
            "info": {"status": "unknown", "description": f"record undecodable: {e}"},
            "error": f"{record.driver} {record.namespace}/{record.name}: {e}",
            "driver": record.driver,
        }
    return redact(doc, record)


def redact(doc: dict[str, Any], record: Record) -> dict[str, Any]:
    raw_info = doc.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    kept_info: dict[str, Any] = {}
    for key in INFO_FIELDS:
        value = info.get(key)
        if key in ("first_deployed", "last_deployed", "deleted"):
            if isinstance(value, str) and value not in ZERO_TIMES:
                kept_info[key] = value
        elif key == "rollback_revision":
            if isinstance(value, int) and value:
                kept_info[key] = value
        elif isinstance(value, str) and value:
            kept_info[key] = value
    out: dict[str, Any] = {
        "name": doc.get("name") if isinstance(doc.get("name"), str) else release_name(record),
        "namespace": doc.get("namespace") if isinstance(doc.get("namespace"), str) else "",
        "version": doc.get("version") if isinstance(doc.get("version"), int) else 0,
        "info": kept_info,
        "driver": record.driver,
    }
    chart = doc.get("chart")
    if isinstance(chart, dict) and isinstance(chart.get("metadata"), dict):
        out["chart"] = {"metadata": chart["metadata"]}  # metadata only: no values/templates/files
    if isinstance(doc.get("apply_method"), str) and doc["apply_method"]:
        out["apply_method"] = doc["apply_method"]
    tests = _test_runs(doc.get("hooks"))
    if tests:
        out["tests"] = tests
    return out


def _test_runs(hooks: object) -> list[dict[str, str]]:
    """What `helm status` prints of test hooks: name, last run's times and phase."""
    runs: list[dict[str, str]] = []
    if not isinstance(hooks, list):
        return runs
    for hook in hooks:
        if not isinstance(hook, dict) or "test" not in (hook.get("events") or []):
            continue
        raw_last = hook.get("last_run")
        last: dict[str, Any] = raw_last if isinstance(raw_last, dict) else {}
        runs.append(
            {
                "name": str(hook.get("name") or ""),
                "started_at": str(last.get("started_at") or ""),
                "completed_at": str(last.get("completed_at") or ""),
                "phase": str(last.get("phase") or ""),
            }
        )
    return runs


def latest_per_release(records: list[Record]) -> list[Record]:
    """The highest revision of each (namespace, name), chosen from labels and object names
    before anything is decoded (Helm's list decodes all, then keeps these)."""
    best: dict[tuple[str, str], Record] = {}
    for record in records:
        key = (record.namespace, release_name(record))
        if key not in best or revision(best[key]) < revision(record):
            best[key] = record
    return list(best.values())

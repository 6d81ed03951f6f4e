"""Helm release records: decoding both storage drivers and redacting to Helm's tables (pure).

A record is one Secret (type helm.sh/release.v1, the default driver) or ConfigMap (the
configmap driver) named `sh.helm.release.v1.<name>.v<revision>`, labelled owner=helm, whose
`release` key holds base64(gzip(JSON)) (gzip skipped when its magic is absent, as Helm's
own decoder does). A Secret's data adds Kubernetes' base64 layer on top.

`summary()` keeps only what Helm's list, history and status print: never `config`,
`manifest`, hooks (their test runs' names, times and phase excepted), `info.notes`,
`info.resources`, or the chart's values, templates, files, schema or lock.

Anyone who may create a ConfigMap in a namespace can plant a "record", so decoding is
bounded (DecodeLimits, `serve --release-record-*`): the stored text's size, the gzip
output's size checked while it is inflated (never a whole bomb in memory), the nesting
depth, and how many records are decoded at once. Whatever breaks a bound, and recursion
or memory errors, makes the record undecodable, reported as such (docs/api.md), never a
500. Its name, namespace and revision come from the object, never from its payload: a
payload naming another release is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import zlib
from dataclasses import dataclass, field
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


# Defaults of `serve --release-record-*`. Helm's own records fit Kubernetes' ~1 MiB object
# limit; the largest real charts (CRDs and dashboards in chart files) inflate to ~10 MiB.
MAX_PAYLOAD = 3 * 1024 * 1024  # characters of the stored `release` value
MAX_DECOMPRESSED = 16 * 1024 * 1024  # bytes of JSON after gzip
MAX_DEPTH = 100  # nesting of the JSON (values nest ~20 deep; json recurses ~1,000)
DECODE_CONCURRENCY = 2  # json holds the GIL: more at once only multiplies peak memory


class UndecodableRecord(ValueError):
    """A release record that is not what Helm writes; the message names why, never data."""


@dataclass(frozen=True)
class DecodeLimits:
    max_payload: int = MAX_PAYLOAD
    max_decompressed: int = MAX_DECOMPRESSED
    max_depth: int = MAX_DEPTH
    concurrency: int = DECODE_CONCURRENCY
    gate: threading.BoundedSemaphore = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_payload", "max_decompressed", "max_depth", "concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        # Shared by every decode with these limits (one DecodeLimits per backend).
        object.__setattr__(self, "gate", threading.BoundedSemaphore(self.concurrency))


DEFAULT_LIMITS = DecodeLimits()


class Record(NamedTuple):
    """A record as stored: where it lives and its (encoded) payload."""

    driver: str  # "secret" | "configmap"
    name: str  # the object's name
    namespace: str
    labels: dict[str, str]
    payload: str | None  # the `release` key: Kubernetes-base64 for a Secret, Helm's for a ConfigMap
    limits: DecodeLimits = DEFAULT_LIMITS  # the reader's (serve flags)


def record_of(obj: dict[str, Any], driver: str, limits: DecodeLimits = DEFAULT_LIMITS) -> Record:
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    payload = data.get("release") if isinstance(data, dict) else None
    return Record(
        driver,
        str(meta.get("name") or ""),
        str(meta.get("namespace") or ""),
        {str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        payload if isinstance(payload, str) else None,
        limits,
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
    """The release JSON object of a record, as Helm's driver decodes it, within the
    record's limits; UndecodableRecord otherwise."""
    limits = record.limits
    if record.payload is None:
        raise UndecodableRecord("no `release` key")
    if len(record.payload) > limits.max_payload:
        raise UndecodableRecord(f"larger than {limits.max_payload} bytes")
    with limits.gate:
        try:
            doc = _decode(record.payload, record.driver, limits)
        except MemoryError:
            raise UndecodableRecord("too large to decode") from None
    if not isinstance(doc, dict):
        raise UndecodableRecord("not a JSON object")
    if _deeper_than(doc, limits.max_depth):
        raise UndecodableRecord(f"nested deeper than {limits.max_depth} levels")
    if _names_another(doc, record):
        raise UndecodableRecord("its payload names another release, namespace or revision")
    return doc


def _decode(text: str, driver: str, limits: DecodeLimits) -> Any:
    try:
        if driver == "secret":
            text = base64.b64decode(text, validate=True).decode("ascii")
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, UnicodeDecodeError):
        raise UndecodableRecord("not base64") from None
    if raw[:3] == GZIP_MAGIC:
        raw = _gunzip(raw, limits.max_decompressed)
    elif len(raw) > limits.max_decompressed:
        raise UndecodableRecord(f"larger than {limits.max_decompressed} bytes of JSON")
    try:
        return json.loads(raw)
    except RecursionError:
        raise UndecodableRecord(f"nested deeper than {limits.max_depth} levels") from None
    except MemoryError:
        raise UndecodableRecord("too large to decode") from None
    except (ValueError, UnicodeDecodeError):
        raise UndecodableRecord("not JSON") from None


def _gunzip(raw: bytes, cap: int) -> bytes:
    """gzip members (Go's reader reads concatenated ones too), inflated at most cap + 1
    bytes at a time: a bomb is refused after cap bytes, never inflated whole."""
    out: list[bytes] = []
    total = 0
    data = raw
    while data:
        if data[:3] != GZIP_MAGIC:
            raise UndecodableRecord("bad gzip stream")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, cap - total + 1)
        except zlib.error:
            raise UndecodableRecord("bad gzip stream") from None
        total += len(chunk)
        if total > cap:
            raise UndecodableRecord(f"inflates to more than {cap} bytes")
        if not inflater.eof:
            raise UndecodableRecord("bad gzip stream")
        out.append(chunk)
        data = inflater.unused_data
    return b"".join(out)


def _deeper_than(doc: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (the top level is 1), without recursion."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _names_another(doc: dict[str, Any], record: Record) -> bool:
    """The payload's name, namespace or version differs from the object's (Helm writes
    them equal: a difference is a record made to pass for another release)."""
    name, namespace, version = doc.get("name"), doc.get("namespace"), doc.get("version")
    if isinstance(name, str) and name != release_name(record):
        return True
    if isinstance(namespace, str) and namespace and namespace != record.namespace:
        return True
    return isinstance(version, int) and revision(record) > 0 and version != revision(record)


def summary(record: Record) -> dict[str, Any]:
    """The redacted release of one record; an undecodable one is kept, flagged by `error`
    (status unknown, no chart), so that it is reported, never dropped."""
    try:
        doc = decode(record)
    except UndecodableRecord as e:
        return {
            "name": release_name(record),
            "namespace": record.namespace,
            "version": revision(record) or _int(doc.get("version")),
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
        # From the object, never the payload (decode refused a payload naming another).
        "name": release_name(record),
        "namespace": record.namespace,
        "version": revision(record) or _int(doc.get("version")),
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


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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

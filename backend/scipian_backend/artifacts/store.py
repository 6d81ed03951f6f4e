"""Uploaded chart archives as Secrets in `scipian-artifacts` on mgmt (change.md §5).

One Secret per archive, named `chart-<sha256 hex>`, its bytes under `chart.tgz`; labels
say what it is and whose (a hash of the uploader: a username is no label value),
annotations hold the uploader, the time, name, version and size. Quotas and the collector
read metadata only (PartialObjectMetadataList): never every archive's bytes.

Lifetime (`collect`): an archive no Promotion names (spec.chart.digest) goes 1 h after its
upload; one that promotions name stays while any of them is unfinished, and goes 24 h
after the last of them finished. `collect(now)` is meant to run as a periodic task of the
worker room (one replica at a time).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.config import ARTIFACTS_NAMESPACE, GROUP, VERSION
from scipian_backend.errors import ServiceUnavailable
from scipian_backend.identity.names import label_value, user_hash

log = logging.getLogger("scipian.artifacts")

KEY = "chart.tgz"
SECRET_TYPE = "scipian.io/chart"  # noqa: S105 - a Secret type, not a password
KIND_LABEL = "scipian.io/artifact"
KIND_VALUE = "chart"
UPLOADER_LABEL = "scipian.io/uploader-hash"
NAME_LABEL = "scipian.io/chart-name"
UPLOADER = "scipian.io/uploaded-by"
UPLOADED_AT = "scipian.io/uploaded-at"
CHART_NAME = "scipian.io/chart-name"
CHART_VERSION = "scipian.io/chart-version"
SIZE = "scipian.io/size"
THROUGH = "scipian.io/through"
UNREFERENCED_LIFETIME = timedelta(hours=1)
AFTER_LAST_USE = timedelta(hours=24)
PROMOTIONS = "promotions"
TERMINAL = ("Succeeded", "Failed", "Cancelled")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


@dataclass(frozen=True)
class Archive:
    digest: str
    name: str
    version: str
    data: bytes

    def __repr__(self) -> str:
        return f"Archive({self.digest}, {self.name!r}, {self.version!r})"


@dataclass(frozen=True)
class Stored:
    """An archive's metadata, as listed."""

    digest: str
    name: str
    version: str
    size: int
    uploader_hash: str
    uploaded_at: datetime


def secret_name(digest: str) -> str:
    return "chart-" + digest.removeprefix("sha256:")


class ArtifactStore:
    def __init__(
        self,
        mgmt: client.ApiClient,
        namespace: str = ARTIFACTS_NAMESPACE,
        timeout: float = 10.0,
        *,
        unreferenced: timedelta = UNREFERENCED_LIFETIME,
        after_use: timedelta = AFTER_LAST_USE,
    ) -> None:
        self._unreferenced = unreferenced
        self._after_use = after_use
        self._mgmt = mgmt
        self._core = client.CoreV1Api(mgmt)
        self._namespace = namespace
        self._timeout = timeout

    # -- reads -------------------------------------------------------------------------

    def get(self, digest: str) -> Archive | None:
        """The archive whose bytes hash to `digest`, or None (absent, altered, or not a
        digest at all)."""
        if not DIGEST.fullmatch(digest):
            return None
        doc = kube.read_secret(
            self._core, secret_name(digest), self._namespace, self._timeout, message=UNAVAILABLE
        )
        if doc is None:
            return None
        meta = doc.get("metadata") or {}
        if (meta.get("labels") or {}).get(KIND_LABEL) != KIND_VALUE:
            return None
        encoded = (doc.get("data") or {}).get(KEY)
        if not isinstance(encoded, str):
            return None
        data = base64.b64decode(encoded)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            log.warning("chart archive %s does not hash to its name: ignored", digest)
            return None
        notes = meta.get("annotations") or {}
        return Archive(
            digest, str(notes.get(CHART_NAME, "")), str(notes.get(CHART_VERSION, "")), data
        )

    def find(self, digest: str) -> Stored | None:
        found = [s for s in self.archives() if s.digest == digest]
        return found[0] if found else None

    def archives(self, selector: str = "") -> list[Stored]:
        """Every archive's metadata (never the bytes)."""
        label = f"{KIND_LABEL}={KIND_VALUE}" + (f",{selector}" if selector else "")
        try:
            doc = self._mgmt.call_api(
                f"/api/v1/namespaces/{self._namespace}/secrets",
                "GET",
                query_params=[("labelSelector", label)],
                header_params={"Accept": METADATA_LIST},
                auth_settings=["BearerToken"],
                response_types_map={200: "object"},
                _return_http_data_only=True,
                _request_timeout=self._timeout,
            )
        except (ApiException, HTTPError, ValueError):
            raise _unavailable() from None
        items = doc.get("items") if isinstance(doc, dict) else None
        return [s for s in (_stored(i) for i in items or []) if s is not None]

    def of_user(self, username: str) -> list[Stored]:
        return self.archives(f"{UPLOADER_LABEL}={user_hash(username)}")

    # -- writes ------------------------------------------------------------------------

    def create(
        self,
        digest: str,
        name: str,
        version: str,
        data: bytes,
        username: str,
        through: Iterable[str],
        now: datetime,
    ) -> bool:
        """Stores the archive; False when one with this digest is there already."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": {
                "name": secret_name(digest),
                "namespace": self._namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "scipian-backend",
                    KIND_LABEL: KIND_VALUE,
                    UPLOADER_LABEL: user_hash(username),
                    NAME_LABEL: label_value(name),
                },
                "annotations": {
                    UPLOADER: username,
                    UPLOADED_AT: kube.stamp(now),
                    CHART_NAME: name,
                    CHART_VERSION: version,
                    SIZE: str(len(data)),
                    THROUGH: ",".join(through),
                },
            },
            "data": {KEY: base64.b64encode(data).decode("ascii")},
        }
        try:
            kube.json_body(
                self._core.create_namespaced_secret(
                    self._namespace, body, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except ApiException as e:
            if kube.status_of(e) == 409:
                return False
            raise _unavailable() from None
        except (HTTPError, ValueError):
            raise _unavailable() from None
        return True

    def delete(self, digest: str) -> None:
        try:
            kube.json_body(
                self._core.delete_namespaced_secret(
                    secret_name(digest),
                    self._namespace,
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )
        except ApiException as e:
            if kube.status_of(e) != 404:
                raise _unavailable() from None
        except (HTTPError, ValueError):
            raise _unavailable() from None

    # -- lifetime ----------------------------------------------------------------------

    def promotions(self) -> list[dict[str, Any]]:
        try:
            doc = kube.json_body(
                client.CustomObjectsApi(self._mgmt).list_cluster_custom_object(
                    GROUP, VERSION, PROMOTIONS, _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )  # fmt: skip
        except (ApiException, HTTPError, ValueError):
            raise _unavailable() from None
        return [p for p in doc.get("items") or [] if isinstance(p, dict)]

    def referenced(self, promotions: list[dict[str, Any]] | None = None) -> set[str]:
        """Digests some Promotion names."""
        promos = self.promotions() if promotions is None else promotions
        return {d for p in promos if (d := chart_digest(p))}

    def collect(self, now: datetime) -> int:
        """Deletes the archives past their lifetime (module docstring); how many."""
        promos = self.promotions()
        deleted = 0
        for stored in self.archives():
            if expired(stored, promos, now, self._unreferenced, self._after_use):
                self.delete(stored.digest)
                deleted += 1
        if deleted:
            log.info("deleted %d chart archive(s) past their lifetime", deleted)
        return deleted


def chart_digest(promo: dict[str, Any]) -> str:
    spec = promo.get("spec") if isinstance(promo.get("spec"), dict) else {}
    chart = spec.get("chart") if isinstance(spec, dict) else None
    digest = chart.get("digest") if isinstance(chart, dict) else None
    return digest if isinstance(digest, str) else ""


def finished_at(promo: dict[str, Any]) -> datetime | None:
    """When a finished promotion finished (None: not finished). The last step's finishedAt,
    else the promotion's lastTransition."""
    status = promo.get("status") if isinstance(promo.get("status"), dict) else {}
    if not isinstance(status, dict) or status.get("phase") not in TERMINAL:
        return None
    times = [
        t
        for s in status.get("steps") or []
        if isinstance(s, dict) and (t := kube.parse_stamp(s.get("finishedAt"))) is not None
    ]
    last = kube.parse_stamp(status.get("lastTransition"))
    if last is not None:
        times.append(last)
    return max(times) if times else datetime.min.replace(tzinfo=timezone.utc)


def expired(
    stored: Stored,
    promotions: list[dict[str, Any]],
    now: datetime,
    unreferenced: timedelta = UNREFERENCED_LIFETIME,
    after_use: timedelta = AFTER_LAST_USE,
) -> bool:
    """The lifetime rule (pure)."""
    using = [p for p in promotions if chart_digest(p) == stored.digest]
    if not using:
        return now >= stored.uploaded_at + unreferenced
    ends = [finished_at(p) for p in using]
    if any(e is None for e in ends):
        return False
    return now >= max(e for e in ends if e is not None) + after_use


def _stored(item: dict[str, Any]) -> Stored | None:
    meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else None
    if meta is None:
        return None
    name = str(meta.get("name") or "")
    if not name.startswith("chart-"):
        return None
    notes = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    size = str(notes.get(SIZE, ""))
    uploaded = kube.parse_stamp(notes.get(UPLOADED_AT)) or kube.parse_stamp(
        meta.get("creationTimestamp")
    )
    return Stored(
        digest="sha256:" + name.removeprefix("chart-"),
        name=str(notes.get(CHART_NAME, "")),
        version=str(notes.get(CHART_VERSION, "")),
        size=int(size) if size.isdigit() else 0,
        uploader_hash=str(labels.get(UPLOADER_LABEL, "")),
        uploaded_at=uploaded or datetime.min.replace(tzinfo=timezone.utc),
    )


UNAVAILABLE = "the management cluster is unavailable (chart archives)"


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(UNAVAILABLE)

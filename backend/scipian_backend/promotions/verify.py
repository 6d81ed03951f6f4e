"""The backend's own verification of a promotion step against its target.

Reads with the environment's release reader (least privilege, manifests/release-reader.yaml):
the release's records, then the workloads its newest record's manifest declares and their
pods. The manifest is decoded here and never returned. The verdict itself is
promotions/checks.py's (pure).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.environments.store import Environment
from scipian_backend.errors import ApiError, InternalError, ServiceUnavailable
from scipian_backend.promotions import checks
from scipian_backend.promotions.records import Verdict
from scipian_backend.releases import records
from scipian_backend.releases.reader import ReleaseReader

READ = {
    "deployment": ("AppsV1Api", "read_namespaced_deployment"),
    "statefulset": ("AppsV1Api", "read_namespaced_stateful_set"),
    "daemonset": ("AppsV1Api", "read_namespaced_daemon_set"),
    "job": ("BatchV1Api", "read_namespaced_job"),
}


class StepVerifier:
    def __init__(self, reader: ReleaseReader, timeout: float = 10.0) -> None:
        self._reader = reader
        self._timeout = timeout

    def newest(self, env: Environment, namespace: str, release: str) -> dict[str, Any] | None:
        """The decoded newest record of the release (None: there is none)."""
        found = [
            r
            for r in self._reader.records(env, namespace, release)
            if records.release_name(r) == release
        ]
        newest = max(found, key=records.revision, default=None)
        if newest is None:
            return None
        try:
            return records.decode(newest)
        except records.UndecodableRecord as e:
            return {"version": records.revision(newest), "info": {"status": f"undecodable ({e})"}}

    def revision(self, env: Environment, namespace: str, release: str) -> int | None:
        found = [
            r
            for r in self._reader.records(env, namespace, release)
            if records.release_name(r) == release
        ]
        return max((records.revision(r) for r in found), default=None)

    def verify(self, env: Environment, promo: dict[str, Any]) -> Verdict:
        spec = promo.get("spec") or {}
        namespace, release = str(spec.get("namespace")), str(spec.get("release"))
        chart = spec.get("chart") or {}
        doc = self.newest(env, namespace, release)
        bad = checks.release_verdict(doc, str(chart.get("identity")), str(chart.get("version")))
        if bad is not None or doc is None:
            return bad or Verdict("failed", "no release record found")
        found = checks.workloads(doc.get("manifest"), namespace)
        try:
            objects, pods = self._read(env, found)
        except ApiException as e:
            if kube.status_of(e) == 401:
                self._reader.forget(env)
            raise _error(env, e) from None
        except HTTPError:
            raise ServiceUnavailable(f"environment {env.id}: cluster unreachable") from None
        except ValueError:
            raise InternalError(f"environment {env.id}: unreadable answer") from None
        return checks.verdict(
            doc, str(chart.get("identity")), str(chart.get("version")), objects, pods
        )

    def _read(
        self, env: Environment, found: list[checks.Workload]
    ) -> tuple[list[tuple[checks.Workload, dict[str, Any] | None]], list[dict[str, Any]]]:
        api = self._reader.api(env)
        objects: list[tuple[checks.Workload, dict[str, Any] | None]] = []
        pods: list[dict[str, Any]] = []
        for w in found:
            group, method = READ[w.kind]
            try:
                obj: dict[str, Any] | None = kube.json_body(
                    getattr(getattr(client, group)(api), method)(
                        w.name, w.namespace, _request_timeout=self._timeout, _preload_content=False
                    )
                )
            except ApiException as e:
                if kube.status_of(e) != 404:
                    raise
                obj = None
            objects.append((w, obj))
            selector = _selector(obj)
            if selector:
                doc = kube.json_body(
                    client.CoreV1Api(api).list_namespaced_pod(
                        w.namespace,
                        label_selector=selector,
                        _request_timeout=self._timeout,
                        _preload_content=False,
                    )
                )
                pods.extend(p for p in doc.get("items") or [] if isinstance(p, dict))
        return objects, pods


def _selector(obj: dict[str, Any] | None) -> str:
    """The workload's matchLabels as a label selector ("" when it has none)."""
    if obj is None:
        return ""
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _error(env: Environment, e: ApiException) -> ApiError:
    status = kube.status_of(e)
    if status in (401, 403):
        return InternalError(
            f"environment {env.id}: release reader may not read workloads (HTTP {status}); "
            "register the environment again"
        )
    return ServiceUnavailable(f"environment {env.id}: cluster unavailable (HTTP {status})")

"""The backend's verification of a promotion step it executed (change.md §5, "Verification").

The evidence is helm's own `-o json` of the run (helmrun/output.py's ReleaseOut). Release
records are read with the environment's release reader (manifests/release-reader.yaml), a
credential of the backend's own that outlives the step's identity; records count only as
promotions/evidence.py says. Workloads come from helm's manifest (after the run) or from
the record whose manifest digest equals the one recorded (the soak's re-checks, possibly on
another replica). Nothing read here is returned or logged: only classified verdicts.

Reading errors are `waiting` verdicts, never exceptions: the step's deadline (D's) ends a
target that stays unreadable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend import kube
from scipian_backend.environments.store import Environment
from scipian_backend.helmrun.output import ReleaseOut
from scipian_backend.helmrun.render import RenderError, config_digest, manifest_digest, objects
from scipian_backend.promotions import evidence as ev
from scipian_backend.promotions.records import Verdict
from scipian_backend.releases import full, records
from scipian_backend.releases.reader import ReleaseReader
from scipian_backend.releases.records import DEFAULT_LIMITS, DecodeLimits

log = logging.getLogger(__name__)
T = TypeVar("T")

READ = {
    "Deployment": ("AppsV1Api", "read_namespaced_deployment"),
    "StatefulSet": ("AppsV1Api", "read_namespaced_stateful_set"),
    "DaemonSet": ("AppsV1Api", "read_namespaced_daemon_set"),
    "Job": ("BatchV1Api", "read_namespaced_job"),
}
MAX_PODS = 500  # pods listed per workload (a page; more are not read)
MAX_WORKLOADS = 200  # workloads of one manifest read per check
MAX_RECORDS = 1000  # release records listed (Helm keeps --history-max, 10 by default)
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class _Unreadable(Exception):
    """The target did not answer a read (classified in the message)."""


class StepVerifier:
    def __init__(
        self, reader: ReleaseReader, timeout: float = 10.0, limits: DecodeLimits = DEFAULT_LIMITS
    ) -> None:
        self._reader = reader
        self._timeout = timeout
        self._limits = limits  # the read side's (serve --release-record-*)

    # --- the contract (HELPERS-V2.md, "V") ---------------------------------------------

    def after_run(
        self,
        env: Environment,
        target: object,
        namespace: str,
        out: ReleaseOut,
        step: dict[str, Any],
    ) -> Verdict:
        """helm exited 0 with `out`: its records and its manifest's workloads, now.
        (`target` is unused: reads go through the release reader, see the module doc.)"""
        if out.status != "deployed":
            return ev.failed("helm's release is not deployed", out.revision)
        helm = ev.Evidence(out.revision, manifest_digest(out.manifest), config_digest(out.config))
        return self._verdict(env, namespace, out.name, helm, out.manifest)

    def check(
        self,
        env: Environment,
        target: object,
        namespace: str,
        step: dict[str, Any],
        release: str | None = None,
    ) -> Verdict:
        """The soak's re-check: nothing newer than the recorded revision, its record still
        with the recorded digests, its workloads still as approved and healthy."""
        recorded = ev.recorded_evidence(step)
        if recorded is None:
            return ev.failed("the step recorded no revision to check")
        name = release or _release_of(step)
        if not name:
            return ev.failed("the step names no release")
        return self._verdict(env, namespace, name, recorded, None)

    def reverify(
        self, env: Environment, target: object, namespace: str, release: str, step: dict[str, Any]
    ) -> Verdict:
        """The previous step before the next starts: a deployed revision ≥ the recorded one
        with the recorded manifest and config digests (`ENV no longer verified: …`)."""
        gone = f"{env.id} no longer verified"
        recorded = ev.recorded_evidence(step)
        if recorded is None:
            return Verdict("failed", f"{gone}: it recorded no revision")
        try:
            facts = [_facts(r) for r in self._records(env, namespace, release)]
        except _Unreadable as e:
            return Verdict("waiting", f"{gone}: {e}")
        if ev.still_verified(facts, recorded):
            return Verdict("ok", "", recorded.revision)
        return Verdict(
            "failed", f"{gone}: the deployed release differs from the verified one", None
        )

    # --- reading -------------------------------------------------------------------------

    def _verdict(
        self,
        env: Environment,
        namespace: str,
        release: str,
        want: ev.Evidence,
        manifest: str | None,
    ) -> Verdict:
        """Records first (every revision by its labels, the executed one decoded), then the
        workloads of `manifest` (None: the executed record's, equal by digest to the
        recorded one)."""
        try:
            revisions = self._revisions(env, namespace, release)
            found = self._read(
                env,
                lambda api: full.read_revision(
                    api,
                    namespace,
                    release,
                    want.revision,
                    limits=self._limits,
                    timeout=self._timeout,
                ),
            )
            bad = ev.records_verdict(revisions, None if found is None else _facts(found), want)
            if bad is not None:
                return bad
            assert found is not None  # records_verdict refuses a missing record
            try:
                workloads = ev.workloads(
                    objects(found.manifest if manifest is None else manifest), namespace
                )
            except RenderError:
                return ev.failed("helm's manifest is not readable", want.revision)
            observed = self._observe(env, workloads[:MAX_WORKLOADS])
            return ev.workloads_verdict(observed, want.revision)
        except _Unreadable as e:
            return ev.waiting(str(e), want.revision)

    def _revisions(self, env: Environment, namespace: str, release: str) -> list[int]:
        """The revision of every Secret of Helm's type of the release, from metadata only
        (nothing decoded: the soak asks every 2 s)."""

        def read(api: client.ApiClient) -> list[int]:
            resp = api.call_api(
                f"/api/v1/namespaces/{namespace}/secrets",
                "GET",
                query_params=[
                    ("labelSelector", f"owner=helm,name={release}"),
                    ("fieldSelector", f"type={ev.RECORD_TYPE}"),
                    ("limit", MAX_RECORDS),
                ],
                header_params={"Accept": METADATA_LIST},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            doc = kube.json_body(resp[0] if isinstance(resp, tuple) else resp)
            found = [records.record_of(item, "secret") for item in doc.get("items") or []]
            return [records.revision(r) for r in found if records.release_name(r) == release]

        return self._read(env, read)

    def _records(self, env: Environment, namespace: str, release: str) -> list[full.FullRecord]:
        return self._read(
            env,
            lambda api: full.read_records(
                api, namespace, release, limits=self._limits, timeout=self._timeout
            ),
        )

    def _observe(self, env: Environment, found: Sequence[ev.Workload]) -> list[ev.Observed]:
        def read(api: client.ApiClient) -> list[ev.Observed]:
            seen: list[ev.Observed] = []
            for w in found:
                group, method = READ[w.kind]
                try:
                    obj: dict[str, Any] | None = kube.json_body(
                        getattr(getattr(client, group)(api), method)(
                            w.name,
                            w.namespace,
                            _request_timeout=self._timeout,
                            _preload_content=False,
                        )
                    )
                except ApiException as e:
                    if kube.status_of(e) != 404:
                        raise
                    obj = None
                selector = _selector(obj)
                pods: list[dict[str, Any]] = []
                replicasets: list[dict[str, Any]] = []
                if selector:
                    pods = self._list(client.CoreV1Api(api).list_namespaced_pod, w, selector)
                    if w.kind == "Deployment":
                        replicasets = self._list(
                            client.AppsV1Api(api).list_namespaced_replica_set, w, selector
                        )
                seen.append(ev.Observed(w, obj, ev.current_pods(w, obj, replicasets, pods)))
            return seen

        return self._read(env, read)

    def _list(self, fn: Any, w: ev.Workload, selector: str) -> list[dict[str, Any]]:
        doc = kube.json_body(
            fn(
                w.namespace,
                label_selector=selector,
                limit=MAX_PODS,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
        )
        return [p for p in doc.get("items") or [] if isinstance(p, dict)]

    def _read(self, env: Environment, fn: Callable[[client.ApiClient], T]) -> T:
        """`fn(reader api)`, once more afresh when the reader's token was refused; target
        errors become _Unreadable (classified)."""
        for attempt in (1, 2):
            try:
                return fn(self._reader.api(env))
            except ApiException as e:
                status = kube.status_of(e)
                if status == 401 and attempt == 1:
                    self._reader.forget(env)
                    continue
                log.debug("verification read on %s: HTTP %s", env.id, status)
                if status in (401, 403):
                    raise _Unreadable("the release reader may not read the release") from None
                raise _Unreadable(f"target unavailable (HTTP {status})") from None
            except HTTPError:
                raise _Unreadable("target unreachable") from None
            except ValueError:
                raise _Unreadable("unreadable answer from the target") from None
        raise AssertionError("unreachable")


def _facts(r: full.FullRecord) -> ev.RecordFacts:
    return ev.RecordFacts(
        r.revision,
        r.secret_type,
        r.status,
        manifest_digest(r.manifest) if isinstance(r.manifest, str) else "",
        config_digest(r.config) if isinstance(r.config, dict) else "",
    )


def _release_of(step: dict[str, Any]) -> str:
    value = step.get("release")
    return value if isinstance(value, str) else ""


def _selector(obj: dict[str, Any] | None) -> str:
    """The workload's matchLabels as a label selector ("" when it has none)."""
    if obj is None:
        return ""
    spec, selector, labels = obj.get("spec"), None, None
    if isinstance(spec, dict):
        selector = spec.get("selector")
    if isinstance(selector, dict):
        labels = selector.get("matchLabels")
    if not isinstance(labels, dict):
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

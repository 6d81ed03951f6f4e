"""A promotion's values files and `--set`s, per step, pinned by digest (change.md §5).

The create body carries them per environment, or for every step under "*". They are kept
in one Secret of the promotion, `values-<promotion>` in `scipian-artifacts` on mgmt (owned
by the Promotion, so that deleting it deletes them), and each step's `valuesDigests` entry
is the sha256 of that step's canonical bytes: the executor loads them again, recomputes the
digest and refuses the step (`values digest mismatch`) before helm runs when they differ.
Values never leave the cluster: no route returns them, no log line carries them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.kube import read_secret, status_of, unavailable
from scipian_backend.promotions.records import API_VERSION, KIND

ALL = "*"  # the scope of values and sets every step takes, before its own
NAMESPACE = "scipian-artifacts"
KEY = "values.json"
LABEL = "scipian.io/values-of"


@dataclass(frozen=True)
class StepInputs:
    """What one step gives helm besides the chart: values files in order, then sets."""

    files: list[tuple[str, bytes]]
    sets: list[str]


def step_inputs(
    values: Mapping[str, Sequence[tuple[str, bytes]]], sets: Mapping[str, Sequence[str]], env: str
) -> StepInputs:
    """Step `env`'s inputs: "*" first, then the environment's own, each in order (helm's
    later -f and --set win, so an environment's own override the common ones)."""
    files = [*values.get(ALL, ()), *values.get(env, ())]
    return StepInputs(
        [(name, bytes(data)) for name, data in files], [*sets.get(ALL, ()), *sets.get(env, ())]
    )


def canonical(inputs: StepInputs) -> bytes:
    """The bytes a step's digest is of: sorted-key JSON of each file's name and sha256, in
    order, and the sets (the plugin's --dry-run computes the same: kubectl_scipian's
    promotions/inputs.py). This form is final: plugin and backend agree on it."""
    doc = {
        "files": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in inputs.files
        ],
        "sets": list(inputs.sets),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _stored(inputs: StepInputs) -> dict[str, Any]:
    return {
        "files": [[name, base64.b64encode(data).decode()] for name, data in inputs.files],
        "sets": list(inputs.sets),
    }


def inputs_digest(inputs: StepInputs) -> str:
    return "sha256:" + hashlib.sha256(canonical(inputs)).hexdigest()


def secret_name(promotion: str) -> str:
    return f"values-{promotion}"


def _document(per_env: Mapping[str, StepInputs]) -> bytes:
    return json.dumps(
        {env: _stored(inputs) for env, inputs in sorted(per_env.items())},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def parse_document(data: bytes, env: str) -> StepInputs | None:
    """Step `env`'s inputs from the Secret's bytes; None when absent or malformed (the
    executor then finds no inputs and refuses the step, as for a changed digest)."""
    try:
        doc = json.loads(data)
        step = doc.get(env) if isinstance(doc, dict) else None
        if not isinstance(step, dict):
            return None
        files = [(str(n), base64.b64decode(d, validate=True)) for n, d in step.get("files", [])]
        sets = [str(s) for s in step.get("sets", [])]
    except (ValueError, TypeError, binascii.Error):
        return None
    return StepInputs(files, sets)


class ValuesStore:
    """The Secret `values-<promotion>` in `scipian-artifacts` on mgmt: one key, every
    step's canonical inputs (a few hundred KiB at most: the create body bounds them)."""

    def __init__(
        self, mgmt: client.ApiClient, timeout: float = 10.0, namespace: str = NAMESPACE
    ) -> None:
        self._api = client.CoreV1Api(mgmt)
        self._timeout = timeout
        self._ns = namespace

    def save(self, promotion: str, per_env: dict[str, StepInputs], owner_uid: str = "") -> None:
        """Written once, at creation (there is no route that changes a promotion's values).
        With the Promotion's uid, the Secret is owned by it: deleting it deletes them."""
        meta: dict[str, Any] = {
            "name": secret_name(promotion),
            "namespace": self._ns,
            "labels": {LABEL: promotion},
        }
        if owner_uid:
            meta["ownerReferences"] = [
                {"apiVersion": API_VERSION, "kind": KIND, "name": promotion, "uid": owner_uid}
            ]
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "immutable": True,
            "data": {KEY: base64.b64encode(_document(per_env)).decode()},
        }
        try:
            resp = self._api.create_namespaced_secret(
                self._ns, body, _request_timeout=self._timeout, _preload_content=False
            )
            resp.drain_conn()
            resp.release_conn()
        except (ApiException, HTTPError) as e:
            raise unavailable(e) from None

    def load(self, promotion: str, env: str) -> StepInputs | None:
        doc = read_secret(self._api, secret_name(promotion), self._ns, self._timeout)
        if doc is None:
            return None
        data = (doc.get("data") or {}).get(KEY)
        if not isinstance(data, str):
            return None
        try:
            raw = base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            return None
        return parse_document(raw, env)

    def delete(self, promotion: str) -> None:
        """When the promotion finishes (its digests stay on it); a missing Secret is fine."""
        try:
            resp = self._api.delete_namespaced_secret(
                secret_name(promotion),
                self._ns,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
            resp.drain_conn()
            resp.release_conn()
        except ApiException as e:
            if status_of(e) != 404:
                raise unavailable(e) from None
        except HTTPError as e:
            raise unavailable(e) from None

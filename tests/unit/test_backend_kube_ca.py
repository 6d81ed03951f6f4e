"""The CA of an issued kubeconfig is the CA of its cluster, however many requests build the
environment's client at once (scipian_backend.kube): the kubernetes client's process-wide
temp file for a kubeconfig's CA was named to other threads before it was written, and an
issuance built at that moment carried no CA (tests/e2e/test_faults_stack.py saw the plugin
refuse dev's certificate: "x509: certificate signed by unknown authority")."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest

from scipian_backend import kube

THREADS = 8
ROUNDS = 40  # each round a CA the process has not loaded yet: one race window per round


def _kubeconfig(ca_data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority-data": ca_data,
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }


def _fresh_ca() -> str:
    # Not parsed on the way (the loader copies the bytes to a file): unique per round.
    body = base64.encodebytes(os.urandom(600))
    pem = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    return base64.b64encode(pem).decode()


def _build(doc: dict[str, object], start: threading.Barrier, got: list[str]) -> None:
    start.wait()  # all at once: the first loads of a CA the process has not seen
    got.append(kube.endpoint_of(kube.from_kubeconfig_dict(doc)).ca_data)


def test_concurrent_builds_carry_the_cluster_ca() -> None:
    wrong = 0
    for _ in range(ROUNDS):
        ca = _fresh_ca()
        doc = _kubeconfig(ca)
        start = threading.Barrier(THREADS)
        got: list[str] = []

        threads = [threading.Thread(target=_build, args=(doc, start, got)) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == THREADS
        wrong += sum(ca_data != ca for ca_data in got)
    assert wrong == 0, f"{wrong} of {ROUNDS * THREADS} endpoints lacked their cluster's CA"


def test_an_empty_ca_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "ca.crt"
    empty.write_bytes(b"")
    doc = _kubeconfig("")
    cluster = doc["clusters"][0]["cluster"]  # type: ignore[index]
    del cluster["certificate-authority-data"]
    cluster["certificate-authority"] = str(empty)
    with pytest.raises(ValueError, match="empty"):
        kube.endpoint_of(kube.from_kubeconfig_dict(doc))

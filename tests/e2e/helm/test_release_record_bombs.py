"""Hostile release records planted on dev (change.md §4; security review H5, L5).

Anyone who may create a ConfigMap in a namespace of a target can plant a "release record".
This file plants, in a namespace of its own on dev:

- `deep`: a ConfigMap record of 760-odd bytes, JSON nesting 5,000 levels (a RecursionError
  in json.loads, which answered 500 to every `helm list -A`);
- `bomb`: a Secret record of ~900 KB that inflates to 500 MB (the old decoder inflated it
  whole, then parsed it: ~1 GB per listing);
- `spoof`: a well-formed record whose payload claims to be `payments/payments-api`;
- `fine`: a record as Helm writes it.

Then, against a backend process of the test's own (its memory read from /proc), the
release routes, the plugin's `helm list -A` and the stack's dashboard keep answering,
the three hostile records shown `unknown` with the reason, and the backend's peak memory
(VmHWM) grows by less than 100 MB. The namespace is removed at the end.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.ui.conftest import as_http, signed_in  # noqa: F401 - signed_in: a fixture
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack
NS = f"t-bombs-{uuid.uuid4().hex[:6]}"
MB = 1 << 20


def _bomb_payload() -> str:
    """gzip of `{"name":"bomb","a":"AAAA…"}`, 500 MB of JSON, made in 1 MiB steps."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflate.compress(b'{"name":"bomb","version":1,"a":"')]
    chunk = b"A" * MB
    parts += [deflate.compress(chunk) for _ in range(500)]
    parts.append(deflate.compress(b'"}') + deflate.flush())
    return base64.b64encode(b"".join(parts)).decode()


def _record(kind: str, name: str, payload: str) -> dict[str, Any]:
    meta = {
        "name": f"sh.helm.release.v1.{name}.v1",
        "namespace": NS,
        "labels": {"owner": "helm", "name": name, "version": "1", "status": "deployed"},
    }
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"release": payload}}
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": meta,
        "type": "helm.sh/release.v1",
        "data": {"release": base64.b64encode(payload.encode()).decode()},
    }


def _helm_json(doc: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(doc).encode())).decode()


@pytest.fixture(scope="module")
def planted(stack: Stack) -> Iterator[dict[str, int]]:
    deep = base64.b64encode(gzip.compress(b"[" * 5000 + b"]" * 5000)).decode()
    bomb = _bomb_payload()
    info = {"status": "deployed", "description": "Install complete"}
    spoof = {"name": "payments-api", "namespace": "payments", "version": 1, "info": info}
    fine = {
        "name": "fine",
        "namespace": NS,
        "version": 1,
        "info": info,
        "chart": {"metadata": {"name": "fine", "version": "1.0.0"}},
    }
    records = [
        _record("ConfigMap", "deep", deep),
        _record("Secret", "bomb", bomb),
        _record("ConfigMap", "spoof", _helm_json(spoof)),
        _record("Secret", "fine", _helm_json(fine)),
    ]
    stack.kubectl("dev", "create", "namespace", NS)
    try:
        for record in records:  # `create`: apply's annotation would double the bomb
            stack.kubectl("dev", "create", "-f", "-", input=json.dumps(record))
        yield {"deep": len(deep), "bomb": len(base64.b64encode(bomb.encode()))}
    finally:
        stack.kubectl("dev", "delete", "namespace", NS, "--wait=false", check=False)


@pytest.fixture(scope="module")
def own_backend(stack: Stack) -> Iterator[BackendProcess]:
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="bombs"
    )
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def alice_token(stack: Stack) -> str:
    from tests.stack.idp_login import authcode_flow_tokens

    tokens = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"],
        stack.env["STACK_IDP_CLIENT_ID"],
        "alice",
        stack.env["STACK_PASSWORD"],
    )
    return str(tokens["id_token"])


def _memory(process: BackendProcess) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of the backend, in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _get(backend: BackendProcess, token: str, path: str) -> requests.Response:
    return requests.get(
        f"{backend.url}/api/v1/environments/dev/releases{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )


def _mine(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items if i["namespace"] == NS}


UNKNOWN = {
    "deep": "nested deeper than 100 levels",
    "bomb": f"inflates to more than {16 * MB} bytes",
    "spoof": "its payload names another release, namespace or revision",
}


def _check_items(items: list[dict[str, Any]]) -> None:
    mine = _mine(items)
    assert set(mine) == {"deep", "bomb", "spoof", "fine"}
    for name, why in UNKNOWN.items():
        assert mine[name]["info"]["status"] == "unknown", mine[name]
        assert mine[name]["error"].endswith(why), mine[name]
        assert "chart" not in mine[name]
    assert mine["fine"]["info"]["status"] == "deployed" and "error" not in mine["fine"]
    # The spoofed payload never shows as payments/payments-api.
    assert not [i for i in items if i["name"] == "payments-api"]


def test_planted_records_are_the_size_the_review_gives(planted: dict[str, int]) -> None:
    assert planted["deep"] < 800  # the review's 760 bytes
    assert 800_000 < planted["bomb"] < 1_000_000  # ~900 KB stored


def test_release_routes_and_helm_list_keep_answering_in_bounded_memory(
    stack: Stack,
    planted: dict[str, int],
    own_backend: BackendProcess,
    alice_token: str,
    tmp_path: Path,
) -> None:
    from tests.e2e.test_plugin_access import login, make_env

    # Warm: every route once on a namespace without records, and alice's plugin login.
    assert _get(own_backend, alice_token, "?namespace=kube-public").status_code == 200
    assert _get(own_backend, alice_token, "/kube-public/x/history").status_code == 200
    assert _get(own_backend, alice_token, "/kube-public/x").status_code == 200
    alice = login(stack, "alice", make_env(stack, tmp_path / "alice", own_backend.url))
    before = _memory(own_backend)

    listed = _get(own_backend, alice_token, "?allNamespaces=true")
    assert listed.status_code == 200, listed.text[:300]
    _check_items(listed.json()["items"])
    in_ns = _get(own_backend, alice_token, f"?namespace={NS}")
    assert in_ns.status_code == 200, in_ns.text[:300]
    _check_items(in_ns.json()["items"])
    for name, why in UNKNOWN.items():
        history = _get(own_backend, alice_token, f"/{NS}/{name}/history")
        assert history.status_code == 200, history.text[:300]
        (item,) = history.json()["items"]
        assert item["info"]["status"] == "unknown" and item["error"].endswith(why)
        status = _get(own_backend, alice_token, f"/{NS}/{name}")
        assert status.status_code == 200, status.text[:300]
        assert status.json()["release"]["error"].endswith(why)

    done = run_plugin(["dev", "helm", "list", "-A"], alice)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("WARNING:")]
    for name, why in UNKNOWN.items():
        assert [w for w in warned if f"{NS}/sh.helm.release.v1.{name}.v1: {why}" in w], warned
    # the undecodable ones are warned about (Helm's table has no row for an unknown status)
    rows = {tuple(line.split()[:2]) for line in done.stdout.splitlines()[1:]}
    assert ("fine", NS) in rows and not [r for r in rows if r[0] == "payments-api"]

    after = _memory(own_backend)
    grown = after["VmHWM"] - before["VmRSS"]
    assert grown < 100 * MB, f"the backend grew by {grown // MB} MB at its peak"


def test_the_dashboards_release_pages_keep_answering(
    stack: Stack,
    planted: dict[str, int],
    signed_in: Any,  # noqa: F811 - the fixture imported above
) -> None:
    session = as_http(signed_in("alice"))
    ui = stack.env["STACK_UI_URL"].removesuffix("/ui/")
    page = session.get(f"{ui}/ui/environments/dev", timeout=120)
    assert page.status_code == 200, page.text[:300]
    for name, why in UNKNOWN.items():
        row = page.text.split(f'data-release="{NS}/{name}"')[1].split("</tr>")[0]
        assert "status-unknown" in row
        release = session.get(f"{ui}/ui/environments/dev/releases/{NS}/{name}", timeout=120)
        assert release.status_code == 200, release.text[:300]
        assert "unknown" in release.text and why in release.text
    assert "payments-api" not in page.text

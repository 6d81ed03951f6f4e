"""PUT /api/v1/charts/sha256:<hex>?through=… over raw HTTP (change.md §5 "Upload"):
archives packaged by the real Helm 4, checked by the backend's own sandboxed helm, stored
as Secrets in scipian-artifacts on the real mgmt cluster.

Each test uploads charts of its own (a unique name), so it asserts only on Secrets it made.
The quotas run a backend of their own with small numbers, for a user of their own signed by
a StaticIssuer (in oidc:platform-admins, so the real mgmt RBAC lets them deploy).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e import chart_upload as cu
from tests.stack import idp_login
from tests.stack.backend_daemon import BackendProcess, StaticIssuer, spawn_backend

CLIENT_ID = "kubectl-scipian"
NAMESPACE = "scipian-artifacts"


class Token(str):
    def __repr__(self) -> str:  # never a JWT in a failure's report
        return "<id_token>"


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, Token]:
    env = stack.env
    return {
        user: Token(
            idp_login.authcode_flow_tokens(
                env["STACK_IDP_ISSUER"], CLIENT_ID, user, env["STACK_PASSWORD"]
            )["id_token"]
        )
        for user in ("carol", "alice")
    }


def _name() -> str:
    return "up-" + uuid.uuid4().hex[:10]


def _archive(stack: Stack, tmp: Path, name: str | None = None, **kw: Any) -> bytes:
    chart = cu.write_chart(tmp / "chart", name or _name(), "0.1.0", **kw)
    return cu.package(stack.env, chart, tmp / "out")


def _secret(stack: Stack, digest: str) -> dict[str, Any] | None:
    out = stack.kubectl(
        "mgmt",
        "get",
        "secret",
        "-n",
        NAMESPACE,
        "chart-" + digest.removeprefix("sha256:"),
        "-o",
        "json",
        check=False,
    )
    return json.loads(out.stdout) if out.returncode == 0 else None


def _error(r: requests.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"reason", "message"}
    return str(body["message"])


def test_an_archive_is_stored_once_as_a_secret(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    name = _name()
    data = _archive(stack, tmp_path, name)
    digest = cu.digest(data)
    url = stack.env["SCIPIAN_BACKEND_URL"]
    first = cu.upload(url, tokens["carol"], data, ["dev", "staging", "prod"])
    assert first.status_code == 201, first.text
    assert first.json() == {"digest": digest, "name": name, "version": "0.1.0", "size": len(data)}
    secret = _secret(stack, digest)
    assert secret is not None
    assert base64.b64decode(secret["data"]["chart.tgz"]) == data
    assert secret["type"] == "scipian.io/chart"
    labels, notes = secret["metadata"]["labels"], secret["metadata"]["annotations"]
    assert labels["scipian.io/artifact"] == "chart"
    assert labels["scipian.io/chart-name"] == name
    assert labels["scipian.io/uploader-hash"]
    assert notes["scipian.io/uploaded-by"] == "oidc:carol@example.test"
    assert notes["scipian.io/chart-version"] == "0.1.0"
    assert notes["scipian.io/through"] == "dev,staging,prod"
    # The same bytes again: 200, the same Secret untouched.
    again = cu.upload(url, tokens["carol"], data, ["dev"])
    assert again.status_code == 200, again.text
    assert again.json()["digest"] == digest
    after = _secret(stack, digest)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]


def test_the_digest_must_be_the_archives(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    data = _archive(stack, tmp_path)
    other = "sha256:" + hashlib.sha256(data + b"!").hexdigest()
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, ["dev"], ref=other)
    assert "digest" in _error(r, 400)
    assert _secret(stack, other) is None and _secret(stack, cu.digest(data)) is None


@pytest.mark.parametrize(
    "ref", ["sha256:ABC", "sha512:" + "a" * 128, "sha256:" + "A" * 64, "sha256:" + "a" * 63]
)
def test_bad_references(stack: Stack, tokens: dict[str, Token], ref: str) -> None:
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], b"\x1f\x8b", ["dev"], ref=ref)
    _error(r, 400)


@pytest.mark.parametrize(
    "through", [[], ["Dev"], ["dev", "dev"], [f"e{i}" for i in range(11)]], ids=str
)
def test_bad_through(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path, through: list[str]
) -> None:
    data = _archive(stack, tmp_path)
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, through)
    _error(r, 400)


def test_too_big_is_refused_before_it_is_read(stack: Stack, tokens: dict[str, Token]) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    big = b"\x1f\x8b" + b"\0" * 1_000_000
    _error(cu.upload(url, tokens["carol"], big, ["dev"]), 413)

    # No Content-Length (chunked): refused once the stream passes the limit.
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"\0" * 65536

    s = requests.Session()
    s.trust_env = False
    r = s.put(
        f"{url}/api/v1/charts/{cu.digest(big)}",
        params={"through": "dev"},
        data=chunks(),
        headers={"Content-Type": "application/gzip", "Authorization": f"Bearer {tokens['carol']}"},
        timeout=60,
    )
    _error(r, 413)


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", ""])
def test_wrong_content_type(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path, content_type: str
) -> None:
    data = _archive(stack, tmp_path)
    url = stack.env["SCIPIAN_BACKEND_URL"]
    _error(cu.upload(url, tokens["carol"], data, ["dev"], content_type=content_type), 415)
    assert _secret(stack, cu.digest(data)) is None


@pytest.mark.parametrize(
    "ref",
    ["http://127.0.0.1:9/schema.json", "file:///etc/passwd", "/etc/hostname", "other.json"],
    ids=["http", "file-url", "absolute-path", "relative"],
)
def test_a_schema_leaving_the_archive_is_refused(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path, ref: str
) -> None:
    schema = json.dumps({"type": "object", "properties": {"value": {"$ref": ref}}})
    data = _archive(stack, tmp_path, files={"values.schema.json": schema})
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, ["dev"])
    assert "$ref leaves the archive" in _error(r, 400)
    assert _secret(stack, cu.digest(data)) is None


def test_a_schema_inside_the_archive_is_accepted(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    schema = json.dumps(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"v": {"type": "string"}},
            "properties": {"value": {"$ref": "#/definitions/v"}},
        }
    )
    data = _archive(stack, tmp_path, files={"values.schema.json": schema})
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, ["dev"])
    assert r.status_code == 201, r.text


def _bomb(name: str, inflated: int) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in (
            (f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n".encode()),
            (f"{name}/files/zeros", b"\0" * inflated),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def test_a_12_mib_archive_is_refused_and_the_backend_lives(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    bomb = _bomb(_name(), 12 * 1024 * 1024)
    assert len(bomb) < 1_000_000
    assert "inflates to more than" in _error(cu.upload(url, tokens["carol"], bomb, ["dev"]), 413)
    assert _secret(stack, cu.digest(bomb)) is None
    # ... subchart archives count too: 6 MiB inside a subchart, 6 MiB beside it.
    inner = _bomb("sub", 6 * 1024 * 1024)
    name = _name()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in (
            (f"{name}/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n".encode()),
            (f"{name}/files/zeros", b"\0" * (6 * 1024 * 1024)),
            (f"{name}/charts/sub-0.1.0.tgz", inner),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    nested = gzip.compress(raw.getvalue(), mtime=0)
    _error(cu.upload(url, tokens["carol"], nested, ["dev"]), 413)
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    fine = _archive(stack, tmp_path)
    assert cu.upload(url, tokens["carol"], fine, ["dev"]).status_code == 201


def test_not_a_chart_helm_loads(stack: Stack, tokens: dict[str, Token]) -> None:
    # Passes the backend's own inspection; the sandboxed helm refuses the version.
    name = _name()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        content = f"apiVersion: v2\nname: {name}\nversion: not-semver\n".encode()
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    data = gzip.compress(raw.getvalue(), mtime=0)
    r = cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, ["dev"])
    assert "helm cannot load" in _error(r, 400)


def test_deploy_on_every_environment_of_through(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    url = stack.env["SCIPIAN_BACKEND_URL"]
    data = _archive(stack, tmp_path)
    # alice (team-a) may deploy to dev only.
    r = cu.upload(url, tokens["alice"], data, ["dev", "staging"])
    assert "staging" in _error(r, 403)
    _error(cu.upload(url, tokens["alice"], data, ["dev", "no-such-env"]), 403)
    assert _secret(stack, cu.digest(data)) is None
    _error(cu.upload(url, None, data, ["dev"]), 401)
    assert cu.upload(url, tokens["alice"], data, ["dev"]).status_code == 201


@pytest.fixture
def small_backend(
    stack: Stack, request: pytest.FixtureRequest
) -> Iterator[tuple[StaticIssuer, BackendProcess]]:
    issuer = StaticIssuer()
    backend = spawn_backend(issuer.issuer, CLIENT_ID, extra=request.param, name="uploads")
    try:
        yield issuer, backend
    finally:
        backend.stop()
        issuer.stop()


def _admin_token(issuer: StaticIssuer) -> Token:
    user = f"up-{uuid.uuid4().hex[:8]}@example.test"
    return Token(issuer.sign(issuer.claims(user, ["platform-admins"], CLIENT_ID)))


@pytest.mark.parametrize("small_backend", [("--chart-uploads-per-hour=2",)], indirect=True)
def test_uploads_per_hour(
    stack: Stack, small_backend: tuple[StaticIssuer, BackendProcess], tmp_path: Path
) -> None:
    issuer, backend = small_backend
    token = _admin_token(issuer)
    data = _archive(stack, tmp_path)
    assert cu.upload(backend.url, token, data, ["dev"]).status_code == 201
    assert cu.upload(backend.url, token, data, ["dev"]).status_code == 200
    third = cu.upload(backend.url, token, data, ["dev"])
    _error(third, 429)
    assert int(third.headers["Retry-After"]) > 0
    # Another user has an hour of their own.
    assert cu.upload(backend.url, _admin_token(issuer), data, ["dev"]).status_code == 200


@pytest.mark.parametrize("small_backend", [("--chart-unreferenced-per-user=2",)], indirect=True)
def test_unreferenced_archives_per_user(
    stack: Stack, small_backend: tuple[StaticIssuer, BackendProcess], tmp_path: Path
) -> None:
    issuer, backend = small_backend
    token = _admin_token(issuer)
    archives = [_archive(stack, tmp_path / str(i)) for i in range(3)]
    for data in archives[:2]:
        assert cu.upload(backend.url, token, data, ["dev"]).status_code == 201
    _error(cu.upload(backend.url, token, archives[2], ["dev"]), 429)
    assert _secret(stack, cu.digest(archives[2])) is None
    # Stored ones still answer (no new Secret); another user is not counted against.
    assert cu.upload(backend.url, token, archives[0], ["dev"]).status_code == 200
    assert cu.upload(backend.url, _admin_token(issuer), archives[2], ["dev"]).status_code == 201


@pytest.mark.parametrize("small_backend", [("--chart-store-bytes=1",)], indirect=True)
def test_the_store_is_full(
    stack: Stack, small_backend: tuple[StaticIssuer, BackendProcess], tmp_path: Path
) -> None:
    issuer, backend = small_backend
    data = _archive(stack, tmp_path)
    r = cu.upload(backend.url, _admin_token(issuer), data, ["dev"])
    _error(r, 507)
    assert r.json()["reason"] == "InsufficientStorage"
    assert _secret(stack, cu.digest(data)) is None


def test_get_gives_the_bytes_and_refuses_altered_ones(
    stack: Stack, tokens: dict[str, Token], tmp_path: Path
) -> None:
    """Backend.artifacts.get (what creation and execution read): the stored bytes, re-hashed;
    a Secret whose bytes were changed behind the backend's back is no archive."""
    from scipian_backend import kube
    from scipian_backend.artifacts.store import ArtifactStore

    name = _name()
    data = _archive(stack, tmp_path, name)
    digest = cu.digest(data)
    assert cu.upload(stack.env["SCIPIAN_BACKEND_URL"], tokens["carol"], data, ["dev"]).ok
    store = ArtifactStore(kube.from_kubeconfig_file(str(stack.kubeconfig("mgmt")), None))
    archive = store.get(digest)
    assert archive is not None
    assert (archive.name, archive.version, archive.data) == (name, "0.1.0", data)
    assert store.get("sha256:../../" + "a" * 58) is None
    other = base64.b64encode(_archive(stack, tmp_path / "other")).decode()
    patch = json.dumps({"data": {"chart.tgz": other}})
    stack.kubectl("mgmt", "patch", "secret", "-n", NAMESPACE, "chart-" + digest[7:], "-p", patch)
    assert store.get(digest) is None

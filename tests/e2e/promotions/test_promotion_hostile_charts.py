"""The chart as an attacker (change.md §5): each hostile chart is refused or contained — at
upload by the backend's own inspection, at creation by its render, or at the step by the
server-side dry run compared with the approved render — the backend stays up and grows by
less than 100 MB, and no value it could see comes out in a promotion, an Event or a page.

alice (deploy on dev) is the attacker throughout; everything goes through `dev`. (A render
with randAlphaNum or .Release.Revision refused at creation: test_promotion_create.py.)
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.e2e.promotions.hostile import MB, archive, backend_pids, release_records, rss
from tests.e2e.promotions.world import (
    CLIENT_ID,
    NAMESPACE,
    Api,
    Archive,
    Flow,
    Logins,
    plan,
    step_of,
)
from tests.e2e.ui.conftest import sign_in_http
from tests.stack.backend_daemon import spawn_backend

pytestmark = pytest.mark.stack
GROWTH = 100 * MB
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  one: "1"
"""


def chart(where: Path, template: str, **files: str | bytes) -> Archive:
    return archive(where, "hostile", "0.1.0", {"templates/t.yaml": template, **files})


@pytest.fixture
def memory() -> Iterator[None]:
    """Every backend process of the stack alive afterwards, none grown by 100 MB."""
    before = {pid: rss(pid) for pid in backend_pids()}
    assert before, "no backend process found"
    yield
    for pid, was in before.items():
        now = rss(pid)  # raises when the process is gone
        assert now - was < GROWTH, f"backend {pid} grew by {(now - was) // MB} MB"


@pytest.fixture
def witness() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server's URL and every path it was asked for (a schema fetch lands)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


# --- refused at upload ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["http", "file", "relative"])
def test_a_schema_ref_leaving_the_archive_is_refused_at_upload(
    api: Api,
    logins: Logins,
    witness: tuple[str, list[str]],
    memory: None,
    tmp_path: Path,
    release: str,
    where: str,
) -> None:
    url, hits = witness
    ref = {
        "http": f"{url}/evil.json",
        "file": "file:///etc/passwd",
        "relative": "../../../../../../etc/hostname",
    }[where]
    schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
    bad = chart(tmp_path, CONFIGMAP, **{"values.schema.json": json.dumps(schema)})
    alice = logins.token("alice")
    got = api.upload(alice, bad, ["dev"])
    assert got.status_code == 400, got.text
    assert "\n" not in got.json()["message"]
    assert hits == []  # nothing fetched
    # and no promotion can name it
    created = api.create(alice, **plan(release, bad, ["dev"]))
    assert created.status_code in (400, 404), created.text
    assert hits == []


def test_a_12_mib_archive_is_refused_at_upload(
    api: Api, logins: Logins, memory: None, tmp_path: Path
) -> None:
    big = chart(tmp_path, CONFIGMAP, **{"files/zeros": bytes(12 * MB)})
    assert len(big.data) < 1_000_000  # the upload's own size limit is not what refuses it
    got = api.upload(logins.token("alice"), big, ["dev"])
    assert got.status_code == 413, got.text
    assert "\n" not in got.json()["message"]


# --- refused at creation -------------------------------------------------------------------

FOREVER = (
    "{{- range $i := until 100000 }}{{- range $j := until 100000 }}"
    "{{- range $k := until 100000 }}{{- end }}{{- end }}{{- end }}\n" + CONFIGMAP
)
HOARD = (
    '{{- $s := "xxxxxxxxxxxxxxxx" }}{{- range until 40 }}{{- $s = print $s $s }}{{- end }}\n'
    + CONFIGMAP
)


def test_a_template_that_hoards_memory_is_refused_at_creation(
    stack: Stack, api: Api, logins: Logins, release: str, memory: None, tmp_path: Path
) -> None:
    """helm's address-space limit ends the render (the backend's memory is its own)."""
    _refused_at_creation(stack, api, logins, release, chart(tmp_path, HOARD))


def test_a_template_that_loops_forever_is_refused_at_creation(
    stack: Stack, logins: Logins, release: str, tmp_path: Path
) -> None:
    """The render's time bound ends it: on a backend of the test's own whose bound (and
    SIGTERM-to-SIGKILL grace: helm does not stop inside a template loop) are short."""
    backend = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID,
        ["--no-worker", "--promotion-render-timeout=2", "--helm-term-grace-seconds=1"],
        name="hostile-renders",
    )  # fmt: skip
    try:
        was = rss(backend.process.pid)
        _refused_at_creation(stack, Api(backend.url), logins, release, chart(tmp_path, FOREVER))
        assert backend.process.poll() is None
        assert rss(backend.process.pid) - was < GROWTH
    finally:
        backend.stop()


def _refused_at_creation(
    stack: Stack, api: Api, logins: Logins, release: str, loop: Archive
) -> None:
    alice = logins.fresh("alice")
    up = api.upload(alice, loop, ["dev"])
    assert up.status_code in (200, 201), up.text  # it loads: only a render shows it
    got = api.create(alice, **plan(release, loop, ["dev"]))
    assert got.status_code == 400, got.text
    message = got.json()["message"]
    assert message.startswith("dev: rendering failed"), message
    assert "\n" not in message and "until" not in message
    assert release_records(stack, "dev", release) == []


# --- contained at the step -------------------------------------------------------------------

LOOKUP = """{{- $ca := lookup "v1" "ConfigMap" .Release.Namespace "kube-root-ca.crt" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  uid: {{ dig "metadata" "uid" "none" $ca | quote }}
"""


def test_a_render_that_depends_on_lookup_fails_its_step_before_anything_is_applied(
    stack: Stack, flow: Flow, logins: Logins, release: str, memory: None, tmp_path: Path
) -> None:
    """`helm template` (creation) has no cluster: lookup finds nothing; the step's
    `upgrade --dry-run=server` finds the namespace's kube-root-ca.crt: the renders differ,
    and nothing is applied."""
    alice = logins.fresh("alice")
    promo = flow.start(alice, release, chart(tmp_path, LOOKUP), ["dev"])
    promo = flow.finished(alice, promo)
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", step
    assert step["message"] == "rendered manifest differs from the approved one"
    assert release_records(stack, "dev", release) == []
    cm = stack.kubectl("dev", "get", "configmap", release, "-n", NAMESPACE, check=False)
    assert cm.returncode != 0 and "NotFound" in cm.stderr


LEAK = (
    '{{- $s := lookup "v1" "Secret" .Release.Namespace (printf "%s-secret" .Release.Name) }}\n'
    '{{- if $s }}{{ fail (printf "leaked %s" (index $s.data "token" | b64dec)) }}{{ end }}\n'
    + CONFIGMAP
)


def test_a_fail_printing_a_looked_up_secret_shows_it_nowhere(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    release: str,
    memory: None,
    tmp_path: Path,
) -> None:
    """A Secret the chart may look up on the target (the deploy role reads Secrets in its
    namespace); `fail` puts its value into helm's error. The step fails, classified, and
    the value is in no promotion field, no Event and no page."""
    value = "hostile-" + secrets.token_hex(12)
    stack.kubectl(
        "dev", "create", "secret", "generic", f"{release}-secret", "-n", NAMESPACE,
        f"--from-literal=token={value}",
    )  # fmt: skip
    try:
        alice = logins.fresh("alice")
        promo = flow.start(alice, release, chart(tmp_path, LEAK), ["dev"])
        name = promo["metadata"]["name"]
        promo = flow.finished(alice, promo)
        step = step_of(promo, "dev")
        assert step["phase"] == "Failed", step
        assert step["message"] in (
            "rendering failed",
            "rendered manifest differs from the approved one",
        ), step
        assert value not in json.dumps(promo)
        assert value not in api.call("GET", "/api/v1/promotions", alice).text
        events = stack.kubectl("mgmt", "get", "events", "-A", "-o", "json").stdout
        mine = [e for e in json.loads(events)["items"] if e["involvedObject"].get("name") == name]
        assert mine, "no Event of the promotion"
        assert value not in events
        base = stack.env["SCIPIAN_BACKEND_URL"]
        session, _ = sign_in_http(stack, base, "carol")
        for page in (
            f"/ui/promotions/{name}",
            f"/ui/promotions/{name}/state",
            "/ui/promotions",
            "/ui/activity",
        ):
            got = session.get(base + page, timeout=30)
            assert got.status_code == 200, (page, got.status_code)
            assert value not in got.text, page
        assert release_records(stack, "dev", release) == []
    finally:
        stack.kubectl("dev", "delete", "secret", f"{release}-secret", "-n", NAMESPACE, check=False)

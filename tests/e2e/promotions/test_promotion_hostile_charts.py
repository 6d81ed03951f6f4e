"""The chart as an attacker (change.md §5): each hostile chart is refused or contained — at
upload by the backend's own inspection, at creation by its render, or at the step by the
server-side dry run compared with the approved render — the backend stays up and does not
grow beyond 100 MB, and no value it could see comes out in a promotion, an Event or a page.

alice (deploy on dev) is the attacker throughout; everything runs through `dev`.
"""

from __future__ import annotations

import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.promotions.hostile import (
    MB,
    archive,
    backend_pids,
    chart_meta,
    create,
    finished,
    rss,
    step_of,
    upload,
    wait_for,
)
from tests.e2e.promotions.world import NAMESPACE, Api, Logins
from tests.e2e.ui.conftest import sign_in_http

pytestmark = pytest.mark.stack
GROWTH = 100 * MB
CHART_YAML = "apiVersion: v2\nname: hostile\nversion: 0.1.0\n"
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  one: "1"
"""


def chart(template: str) -> bytes:
    files = {"Chart.yaml": CHART_YAML, "values.yaml": "x: 1\n", "templates/t.yaml": template}
    return archive(files, top="hostile")


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
def witness() -> Iterator[list[str]]:
    """A local HTTP server that records every request it gets (a schema fetch would land)."""
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hits.append(f"http://127.0.0.1:{server.server_address[1]}")  # [0]: the URL, not a hit
    try:
        yield hits
    finally:
        server.shutdown()
        server.server_close()


# --- refused at upload ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["http", "file", "relative"])
def test_a_schema_ref_leaving_the_archive_is_refused_at_upload(
    api: Api, logins: Logins, witness: list[str], memory: None, where: str
) -> None:
    ref = {
        "http": f"{witness[0]}/evil.json",
        "file": "file:///etc/passwd",
        "relative": "../../../../../../etc/hostname",
    }[where]
    schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
    data = archive(
        {"Chart.yaml": CHART_YAML, "values.yaml": "x: 1\n", "templates/cm.yaml": CONFIGMAP,
         "values.schema.json": json.dumps(schema)},
        top="hostile",
    )  # fmt: skip
    got = upload(api, logins.token("alice"), data, ["dev"])
    assert got.status_code == 400, got.text
    assert "\n" not in got.json()["message"]
    assert witness[1:] == []  # nothing fetched
    # and no promotion can name it
    created = _create_only(api, logins.token("alice"), data)
    assert created.status_code in (400, 404), created.text


def test_a_12_mib_archive_is_refused_at_upload(api: Api, logins: Logins, memory: None) -> None:
    data = archive(
        {"Chart.yaml": CHART_YAML, "templates/cm.yaml": CONFIGMAP, "files/zeros": bytes(12 * MB)},
        top="hostile",
    )
    assert len(data) < 1_000_000  # the upload's own limit is not what refuses it
    got = upload(api, logins.token("alice"), data, ["dev"])
    assert got.status_code == 413, got.text
    assert "\n" not in got.json()["message"]


# --- refused at creation -------------------------------------------------------------------

FOREVER = (
    """{{- range $i := until 100000 }}{{- range $j := until 100000 }}{{- range $k := until 100000 }}
{{- end }}{{- end }}{{- end }}
"""
    + CONFIGMAP
)
HOARD = (
    """{{- $s := "xxxxxxxxxxxxxxxx" }}{{- range until 40 }}{{- $s = print $s $s }}{{- end }}
"""
    + CONFIGMAP
)


@pytest.mark.parametrize("template", [FOREVER, HOARD], ids=["cpu", "memory"])
def test_a_template_that_loops_forever_is_refused_at_creation(
    stack: Stack, api: Api, logins: Logins, release: str, memory: None, template: str
) -> None:
    alice = logins.fresh("alice")
    got = create(api, alice, release, chart(template), ["dev"], version="0.1.0")
    assert got.status_code == 400, got.text
    message = got.json()["message"]
    assert "\n" not in message and "until" not in message and "range" not in message
    assert _release_records(stack, release) == []


RANDOM = CONFIGMAP + "  token: {{ randAlphaNum 16 | quote }}\n"
REVISION = CONFIGMAP + '  revision: "{{ .Release.Revision }}"\n'


@pytest.mark.parametrize("template", [RANDOM, REVISION], ids=["randAlphaNum", "Release.Revision"])
def test_a_render_that_is_not_reproducible_is_refused_at_creation(
    stack: Stack, api: Api, logins: Logins, release: str, memory: None, template: str
) -> None:
    got = create(api, logins.fresh("alice"), release, chart(template), ["dev"], version="0.1.0")
    assert got.status_code == 400, got.text
    assert "\n" not in got.json()["message"]
    assert _promotions_of(stack, release) == []


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
    stack: Stack, api: Api, logins: Logins, release: str, memory: None
) -> None:
    """`helm template` (creation) has no cluster: lookup finds nothing; the step's
    `upgrade --dry-run=server` finds the namespace's kube-root-ca.crt: the renders differ,
    and nothing is applied."""
    alice = logins.fresh("alice")
    created = create(api, alice, release, chart(LOOKUP), ["dev"], version="0.1.0")
    assert created.status_code == 201, created.text
    name = created.json()["metadata"]["name"]
    promo = wait_for(api, lambda: logins.token("alice"), name, finished)
    step = step_of(promo, "dev")
    assert step["phase"] == "Failed", step
    assert step["message"] == "rendered manifest differs from the approved one"
    assert _release_records(stack, release) == []
    cm = stack.kubectl("dev", "get", "configmap", release, "-n", NAMESPACE, check=False)
    assert cm.returncode != 0 and "NotFound" in cm.stderr


LEAK = (
    """{{- $s := lookup "v1" "Secret" .Release.Namespace (printf "%s-secret" .Release.Name) }}
{{- if $s }}{{ fail (printf "leaked %s" (index $s.data "token" | b64dec)) }}{{ end }}
"""
    + CONFIGMAP
)


def test_a_fail_printing_a_looked_up_secret_shows_it_nowhere(
    stack: Stack, api: Api, logins: Logins, release: str, memory: None
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
        created = create(api, alice, release, chart(LEAK), ["dev"], version="0.1.0")
        assert created.status_code == 201, created.text  # no cluster at creation: no fail
        assert value not in created.text
        name = created.json()["metadata"]["name"]
        promo = wait_for(api, lambda: logins.token("alice"), name, finished)
        step = step_of(promo, "dev")
        assert step["phase"] == "Failed", step
        assert step["message"] in (
            "rendering failed",
            "rendered manifest differs from the approved one",
        )
        assert value not in json.dumps(promo)
        assert value not in api.call("GET", "/api/v1/promotions", alice).text
        events = stack.kubectl("mgmt", "get", "events", "-A", "-o", "json").stdout
        mine = [e for e in json.loads(events)["items"] if e["involvedObject"].get("name") == name]
        assert mine, "no Event of the promotion"
        assert value not in json.dumps(mine)
        assert value not in events
        session, _ = sign_in_http(stack, stack.env["SCIPIAN_BACKEND_URL"], "carol")
        for page in (f"/ui/promotions/{name}", f"/ui/promotions/{name}/state", "/ui/promotions",
                     "/ui/activity"):  # fmt: skip
            got = session.get(stack.env["SCIPIAN_BACKEND_URL"] + page, timeout=30)
            assert got.status_code == 200, (page, got.status_code)
            assert value not in got.text, page
        assert _release_records(stack, release) == []
    finally:
        stack.kubectl("dev", "delete", "secret", f"{release}-secret", "-n", NAMESPACE, check=False)


# --- helpers -------------------------------------------------------------------------------


def _create_only(api: Api, token: str, data: bytes) -> requests.Response:
    """A create naming an archive that was never stored."""
    body = {
        "release": "t-hostile-none",
        "namespace": NAMESPACE,
        "chart": chart_meta(data, name="hostile", version="0.1.0"),
        "through": ["dev"],
        "justification": "hostile chart test",
    }
    return api.call("POST", "/api/v1/promotions", token, body)


def _release_records(stack: Stack, release: str) -> list[str]:
    out = stack.kubectl(
        "dev", "get", "secrets", "-n", NAMESPACE, "-l", f"owner=helm,name={release}", "-o", "name"
    )
    return out.stdout.split()


def _promotions_of(stack: Stack, release: str) -> list[str]:
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json")
    return [
        p["metadata"]["name"] for p in json.loads(out.stdout)["items"]
        if p["spec"]["release"] == release
    ]  # fmt: skip

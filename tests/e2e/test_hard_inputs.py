"""Bounded inputs, tried as hostile users would (issue #25 items 8, 11 and 13's plugin half),
over raw HTTP against backends of this module's own (small numbers by flag), real logins
at the stack's provider, release records written by the real helm, and the real plugin.

- every authenticated route takes a token from a per-user bucket: reads and listings from
  one, rollback records and promotion requests from another, issuance from its own;
- denial Events are aggregated without the justification;
- rollback records only for namespaces the environment deploys and releases it holds;
- JSON nested deeper than 32 levels is a 400, never a 500 with a traceback;
- control characters are refused in texts the API takes, and the plugin prints those that
  come from a release record or the backend escaped;
- the plugin refuses an issuer over plain http:// off loopback.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.test_hostile_plugin import Hostile, one_line_failure
from tests.e2e.test_plugin_access import login, make_env
from tests.helpers import wait_for
from tests.stack.backend_daemon import BackendProcess, spawn_backend
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.login import run_plugin
from tests.stack.releases import CHART, helm_env

pytestmark = pytest.mark.stack
CLIENT_ID = "kubectl-scipian"
ESC = "\x1b"


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def token(stack: Stack, user: str) -> str:
    tokens = authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], CLIENT_ID, user, stack.env["STACK_PASSWORD"]
    )
    return str(tokens["id_token"])


def call(
    url: str,
    method: str,
    path: str,
    id_token: str | None = None,
    body: object = None,
    *,
    data: bytes | None = None,
    request_id: str | None = None,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if id_token is not None:
        headers["Authorization"] = f"Bearer {id_token}"
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    payload = data if data is not None else (json.dumps(body).encode() if body is not None else b"")
    return http().request(method, url + path, headers=headers, data=payload, timeout=60)


@pytest.fixture(scope="module")
def limited(stack: Stack) -> Iterator[BackendProcess]:
    """Reads: 3 at once, then one every 10 minutes; writes: 2, then the same."""
    b = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        CLIENT_ID,
        extra=[
            "--read-rate-limit=1/600s",
            "--read-rate-limit-burst=3",
            "--write-rate-limit=1/600s",
            "--write-rate-limit-burst=2",
        ],
        name="hard-inputs-limited",
    )
    yield b
    b.stop()


@pytest.fixture(scope="module")
def backend(stack: Stack) -> Iterator[BackendProcess]:
    """The stack's numbers (raised by flag), for what is not about rates."""
    b = spawn_backend(stack.env["STACK_IDP_ISSUER"], CLIENT_ID, name="hard-inputs")
    yield b
    b.stop()


ROLLBACK = {
    "justification": "t-hard-inputs",
    "fromRevision": 2,
    "toRevision": 1,
    "phase": "started",
}


# --- item 8: rates ---------------------------------------------------------------------------


def test_reads_and_writes_have_per_user_buckets(stack: Stack, limited: BackendProcess) -> None:
    carol = token(stack, "carol")
    url = limited.url
    for _ in range(3):
        assert call(url, "GET", "/api/v1/environments", carol).status_code == 200
    refused = call(url, "GET", "/api/v1/environments", carol)
    assert refused.status_code == 429, refused.text
    assert refused.json()["reason"] == "TooManyRequests"
    assert refused.json()["message"].startswith("too many requests; retry in ")
    assert refused.headers["Retry-After"].isdigit() and int(refused.headers["Retry-After"]) >= 1
    # Release reads and promotion listings draw from the same bucket.
    assert call(url, "GET", "/api/v1/environments/dev/releases", carol).status_code == 429
    assert call(url, "GET", "/api/v1/promotions", carol).status_code == 429
    # and a step's diff (promotions/diff_routes.py): throttled before RBAC or existence
    assert call(url, "GET", "/api/v1/promotions/x-nope/steps/prod/diff", carol).status_code == 429
    # The write bucket is carol's own too: two records answered (refused: no such
    # release), the third throttled before anything is read or written.
    path = "/api/v1/environments/dev/releases/shop/t-hard-nope/rollbacks"
    assert [call(url, "POST", path, carol, ROLLBACK).status_code for _ in range(3)] == [
        404,
        404,
        429,
    ]
    assert call(url, "POST", "/api/v1/promotions", carol, {}).status_code == 400  # body first
    # Issuance keeps its own bucket; other users keep theirs.
    assert call(url, "POST", "/api/v1/environments/dev/kubeconfig", carol).status_code == 200
    assert call(url, "GET", "/api/v1/environments", token(stack, "bob")).status_code == 200


# --- item 8: denial Events -------------------------------------------------------------------


def events_naming(stack: Stack, text: str) -> list[dict[str, Any]]:
    out = stack.kubectl("mgmt", "get", "events", "-n", "default", "-o", "json")
    return [e for e in json.loads(out.stdout)["items"] if text in (e.get("message") or "")]


def test_denials_with_distinct_justifications_are_one_event(stack: Stack) -> None:
    """mallory's deploy requests to dev, each with a new justification, within one flush
    interval (an hour here; the backend's shutdown posts what is pending): one Event with
    a count, naming no justification. Each was its own Event before."""
    b = spawn_backend(
        stack.env["STACK_IDP_ISSUER"],
        CLIENT_ID,
        extra=["--event-flush-seconds=3600"],
        name="hard-inputs-events",
    )
    prefix = f"t-agg-{uuid.uuid4().hex[:8]}"
    try:
        mallory = token(stack, "mallory")
        for i in range(12):
            r = call(
                b.url,
                "POST",
                "/api/v1/environments/dev/kubeconfig",
                mallory,
                {"level": "deploy", "justification": f"{prefix} spam {i}"},
                request_id=f"{prefix}-{i}",
            )
            assert r.status_code == 403, r.text
    finally:
        b.stop()
    wait_for("the denials' Event", lambda: events_naming(stack, prefix), 30)
    events = events_naming(stack, prefix)
    assert [(e["reason"], e["count"]) for e in events] == [("CredentialsDenied", 12)]
    assert "spam" not in events[0]["message"]
    assert events[0]["message"].startswith(
        "denied oidc:mallory@example.test deploy credentials 12 times: forbidden (requests "
    )


# --- item 8: rollback records ----------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_release(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A release of this module's own in `shop` on dev (the namespace dev deploys to)."""
    home = tmp_path_factory.mktemp("helm-shop")
    env = helm_env(home, stack.kubeconfig("dev"))
    name = f"t-hard-{uuid.uuid4().hex[:8]}"
    helm = [stack.env["STACK_HELM"]]
    subprocess.run(
        [*helm, "install", name, str(CHART), "-n", "shop"], env=env, check=True, capture_output=True
    )
    yield name
    subprocess.run([*helm, "uninstall", name, "-n", "shop"], env=env, capture_output=True)


def test_rollback_records_only_for_what_the_environment_deploys(
    stack: Stack, backend: BackendProcess, dev_release: str
) -> None:
    alice = token(stack, "alice")  # deploys to dev, in namespace shop

    def record(namespace: str, release: str) -> requests.Response:
        path = f"/api/v1/environments/dev/releases/{namespace}/{release}/rollbacks"
        return call(backend.url, "POST", path, alice, ROLLBACK)

    outside = record("kube-system", "coredns")
    assert outside.status_code == 403, outside.text
    assert outside.json()["message"] == "dev does not deploy to namespace kube-system"
    invented = record("shop", f"t-invented-{uuid.uuid4().hex[:8]}")
    assert invented.status_code == 404, invented.text
    assert invented.json()["message"].startswith("no release t-invented-")
    real = record("shop", dev_release)
    assert real.status_code == 200, real.text
    assert real.json()["phase"] == "started"


# --- item 8: JSON depth ----------------------------------------------------------------------

DEEP = {
    "5000-brackets": b"[" * 5000,
    "64k-brackets": b"[" * 65536,
    "33-levels": b'{"a":' + b"[" * 32 + b"]" * 32 + b"}",
}
JSON_ROUTES = [
    "/api/v1/environments/dev/kubeconfig",  # the raw issuance route (http/issuance.py)
    "/api/v1/environments/dev/releases/shop/web/rollbacks",
    "/api/v1/promotions",
    "/api/v1/promotions/p1/steps/dev/approvals",
    "/api/v1/promotions/p1/cancel",
]


@pytest.mark.parametrize("body", sorted(DEEP))
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_deep_json_is_one_400(backend: BackendProcess, route: str, body: str) -> None:
    """Unauthenticated, as L4's attacker: a 500 and a traceback per request before."""
    r = call(backend.url, "POST", route, data=DEEP[body])
    assert r.status_code == 400, r.text
    assert r.json() == {
        "reason": "BadRequest",
        "message": "request body nests deeper than 32 levels",
    }


def test_deep_json_leaves_no_traceback(stack: Stack, backend: BackendProcess) -> None:
    before = backend.log_path.read_text(errors="replace")
    call(backend.url, "POST", "/api/v1/environments/dev/kubeconfig", data=b"[" * 65536)
    after = backend.log_path.read_text(errors="replace")[len(before) :]
    assert "Traceback" not in after and "RecursionError" not in after


# --- item 11: control characters -------------------------------------------------------------

HOSTILE_TEXT = [
    ESC + "[2A" + ESC + "[2K staging Succeeded",
    ESC + "]52;c;aGk=\x07",
    "a\rb",
    "\x9b2A",
    "evil\u202eCBA",
    "x\u2066y",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_justifications_with_control_characters_are_400(backend: BackendProcess, text: str) -> None:
    for route, body in (
        ("/api/v1/environments/dev/kubeconfig", {"level": "deploy", "justification": text}),
        (
            "/api/v1/environments/dev/releases/shop/web/rollbacks",
            {**ROLLBACK, "justification": text},
        ),
        (
            "/api/v1/promotions/p1/steps/dev/approvals",
            {"justification": text, "diffDigest": "sha256:" + "0" * 64},
        ),
        ("/api/v1/promotions/p1/cancel", {"justification": text}),
    ):
        r = call(backend.url, "POST", route, body=body)
        assert r.status_code == 400, (route, r.text)


def test_error_messages_quote_field_names_escaped(backend: BackendProcess) -> None:
    r = call(backend.url, "POST", "/api/v1/environments/dev/kubeconfig", body={ESC + "[2J": 1})
    assert r.status_code == 400
    assert r.json()["message"] == "unknown field(s) in the request body: \\x1b[2J"


@pytest.fixture(scope="module")
def escaped_release(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(namespace, release) of this module's own on dev, written by the real helm with a
    description that rewrites the two lines above and sets the reader's clipboard."""
    home = tmp_path_factory.mktemp("helm-esc")
    env = helm_env(home, stack.kubeconfig("dev"))
    ns, name = f"t-esc-{uuid.uuid4().hex[:6]}", "esc"
    stack.kubectl("dev", "create", "namespace", ns)
    description = ESC + "[2A" + ESC + "[2K all fine " + ESC + "]52;c;aGk=\x07"
    subprocess.run(
        [
            stack.env["STACK_HELM"],
            "install",
            name,
            str(CHART),
            "-n",
            ns,
            "--description",
            description,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    yield ns, name
    stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def alice_plugin(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return login(stack, "alice", make_env(stack, tmp_path_factory.mktemp("alice") / "config"))


@pytest.mark.parametrize("command", ["history", "status"])
def test_the_plugin_prints_a_records_control_characters_escaped(
    alice_plugin: dict[str, str], escaped_release: tuple[str, str], command: str
) -> None:
    ns, name = escaped_release
    out = run_plugin(["dev", "helm", command, name, "-n", ns], alice_plugin)
    assert out.returncode == 0, out.stderr
    assert ESC not in out.stdout and "\x07" not in out.stdout
    assert "\\x1b[2A\\x1b[2K all fine \\x1b]52;c;aGk=\\x07" in out.stdout
    # -o json keeps the text as it is, in JSON's own escapes.
    raw = run_plugin(["dev", "helm", command, name, "-n", ns, "-o", "json"], alice_plugin)
    assert ESC not in raw.stdout and "\\u001b[2A" in raw.stdout


# --- item 13: the plugin's issuer policy -----------------------------------------------------


def test_the_plugin_refuses_a_plain_http_issuer_off_loopback(stack: Stack, tmp_path: Path) -> None:
    hostile = Hostile("http://idp.example.test/dex")
    try:
        env = make_env(stack, tmp_path / "config", hostile.url)
        out = run_plugin(["login"], env)
    finally:
        hostile.stop()
    line = one_line_failure(out)
    assert "names an issuer over plain http:// off loopback (http://idp.example.test/dex)" in line

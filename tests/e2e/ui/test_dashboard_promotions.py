"""Promotions in the dashboard against the real stack, over HTTP as a browser (or a hostile
client holding its cookie) would, with real logins at the provider's pages: the backend
executes every step; the dashboard shows the record and the diff, approves with the
digest of the diff the approver read (through a step-up login), and cancels.

- dave's approve form carries the gated step's `renderDigest`; a stale digest gets the
  backend's 409 in the page and records nothing; the right one, posted with a login older
  than the environment allows, rides through the step-up login and is recorded with it;
  the backend then deploys the step and the page shows who approved what and which
  replica executed it.
- The diff page shows a ConfigMap's key names and a Secret as present, never a value.
- The initiator gets no Approve button and her forged approval is refused; a form without
  the CSRF token is refused.
- Cancel: no button for someone who may not (alice: she deploys to `dev` only) and her
  forged request refused; the initiator's POST without the CSRF token refused, the right
  one ends the promotion Cancelled, and the list page says so.

Each test reads and changes only what it creates (the `chain` fixture): two environments of
its own on the dev and prod clusters, deploying into a namespace of its own, the second
prod-like (requirePromotionFrom the first, one approval, a login no older than
MAX_AUTH_AGE), dave's approve grant on it, and its release; all removed afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.ui.conftest import PAGES_SEEN, sign_in_http
from tests.helpers import wait_for
from tests.stack import grants, idp_login
from tests.stack.backend_daemon import admin_cli
from tests.stack.releases import CHART, helm_env

pytestmark = pytest.mark.stack
# The gated environment's login age: dave's fresh login approves at once; one older than
# this takes a step-up.
MAX_AUTH_AGE = 20
BOUND = 240.0  # a bound on the backend's execution, not a timing assertion
# Values set at creation: on the cluster, never in a page.
CONFIG_VALUE = "t-ui-config-value-7f3a"
SECRET_VALUE = "t-ui-secret-value-c91d"
CONFIG_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-token
type: Opaque
stringData:
  token: {{ .Values.token | quote }}
"""


@dataclass(frozen=True)
class Chain:
    first: str  # on the dev cluster
    gated: str  # on the prod cluster: requirePromotionFrom first, 1 approval, MAX_AUTH_AGE
    namespace: str  # the deploy namespace of both, on both clusters
    release: str


def _register(stack: Stack, env: str, cluster: str, namespace: str, *more: str) -> None:
    out = admin_cli(
        "register", f"--name={env}", f"--kubeconfig={stack.kubeconfig(cluster)}",
        "--description=dashboard promotion test", f"--deploy-namespace={namespace}", *more,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


@pytest.fixture
def chain(stack: Stack) -> Iterator[Chain]:
    """The test's own environments, grant and release, removed afterwards (with the
    Promotions of the release, its lock, the namespaces on both clusters)."""
    from scipian_backend.promotions.lock import lock_name

    tag = uuid.uuid4().hex[:6]
    c = Chain(f"t-ui-{tag}-dev", f"t-ui-{tag}-prod", f"t-ui-{tag}", f"t-ui-{tag}")
    # release-managers approve only `prod` by name: dave needs a grant for this one too.
    approve = grants.Grant("approve", grants.APPROVE, "oidc:release-managers", (c.gated,))
    rbac = json.dumps(grants.manifest((approve,)))
    try:
        _register(stack, c.first, "dev", c.namespace)
        _register(
            stack, c.gated, "prod", c.namespace, f"--require-promotion-from={c.first}",
            "--approvals=1", f"--max-auth-age={MAX_AUTH_AGE}",
        )  # fmt: skip
        stack.kubectl("mgmt", "apply", "-f", "-", input=rbac)
        yield c
    finally:
        stack.kubectl("mgmt", "delete", "--ignore-not-found", "-f", "-", input=rbac, check=False)
        for name in _promotions_of(stack, c):
            stack.kubectl(
                "mgmt", "delete", "promotion.scipian.io", name, "--wait=false", check=False
            )
        lease = lock_name(c.namespace, c.release)
        stack.kubectl("mgmt", "delete", "lease", "-n", "scipian-system", lease, check=False)
        for env in (c.first, c.gated):
            stack.kubectl("mgmt", "delete", "environment", env, "--ignore-not-found", check=False)
            secret = f"{env}-kubeconfig"
            stack.kubectl(
                "mgmt", "delete", "secret", "-n", "scipian-system", secret, "--ignore-not-found",
                check=False,
            )  # fmt: skip
        for cluster in ("dev", "prod"):
            stack.kubectl(cluster, "delete", "namespace", c.namespace, "--wait=false", check=False)


def _promotions_of(stack: Stack, c: Chain) -> list[str]:
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json", check=False)
    return [
        item["metadata"]["name"]
        for item in json.loads(out.stdout or '{"items": []}')["items"]
        if (item["spec"]["release"], item["spec"]["namespace"]) == (c.release, c.namespace)
    ]


def chart_archive(stack: Stack, tmp_path: Path) -> bytes:
    """shop-web with a ConfigMap and a Secret whose data come from values, packaged by the
    real helm."""
    src = tmp_path / "chart" / "shop-web"
    shutil.copytree(CHART, src)
    (src / "templates" / "settings.yaml").write_text(CONFIG_TEMPLATE)
    out = tmp_path / "packaged"
    env = helm_env(tmp_path / "helm", Path("/dev/null"))
    subprocess.run(
        [stack.env["STACK_HELM"], "package", str(src), "--version", "1.3.0", "-d", str(out)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return (out / "shop-web-1.3.0.tgz").read_bytes()


def fresh_token(stack: Stack, user: str) -> str:
    tokens = idp_login.authcode_flow_tokens(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], user,
        stack.env["STACK_PASSWORD"],
    )  # fmt: skip
    return str(tokens["id_token"])


def create_promotion(stack: Stack, c: Chain, tmp_path: Path) -> str:
    """carol uploads the archive and creates the promotion through both environments over
    the API (as the plugin does); returns its name."""
    base = stack.env["SCIPIAN_BACKEND_URL"]
    data = chart_archive(stack, tmp_path)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    http = requests.Session()
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {fresh_token(stack, 'carol')}"
    through = [c.first, c.gated]
    up = http.put(
        f"{base}/api/v1/charts/{digest}", params={"through": ",".join(through)}, data=data,
        headers={"Content-Type": "application/gzip"}, timeout=60,
    )  # fmt: skip
    assert up.status_code in (200, 201), up.text
    values = f"greeting: {CONFIG_VALUE}\ntoken: {SECRET_VALUE}\n".encode()
    body = {
        "release": c.release,
        "namespace": c.namespace,
        "chart": {"digest": digest, "name": "shop-web", "version": "1.3.0"},
        "through": through,
        "justification": f"t-ui {c.release}",
        "soakSeconds": 0,
        "timeoutSeconds": 60,
        "values": {"*": [{"name": "v.yaml", "contentBase64": base64.b64encode(values).decode()}]},
    }
    made = http.post(f"{base}/api/v1/promotions", json=body, timeout=120)
    assert made.status_code == 201, made.text
    return str(made.json()["metadata"]["name"])


def promotion(stack: Stack, name: str) -> dict[str, Any]:
    """The test's own Promotion as the management cluster's admin reads it."""
    doc: dict[str, Any] = json.loads(
        stack.kubectl("mgmt", "get", "promotion.scipian.io", name, "-o", "json").stdout
    )
    return doc


def step_of(promo: dict[str, Any], env: str) -> dict[str, Any]:
    [step] = [s for s in promo["status"]["steps"] if s["environment"] == env]
    return dict(step)


def wait_step(stack: Stack, name: str, env: str, phase: str) -> dict[str, Any]:
    wait_for(
        f"{name} step {env} {phase}",
        lambda: (
            step_of(promotion(stack, name), env).get("phase") == phase
            or promotion(stack, name)["status"].get("phase") in ("Failed", "Cancelled")
        ),
        BOUND,
    )
    promo = promotion(stack, name)
    assert step_of(promo, env).get("phase") == phase, promo["status"]
    return promo


def form_digest(page: str, env: str) -> str:
    """The diffDigest of step `env`'s approve form in a page."""
    forms = re.findall(r'<form class="approve".*?</form>', page, re.S)
    mine = [f for f in forms if f"/steps/{env}/approve" in f]
    assert len(mine) == 1, page
    found = re.search(r'name="diffDigest" value="([^"]*)"', mine[0])
    assert found is not None, mine[0]
    return found.group(1)


def post_form(s: requests.Session, url: str, fields: dict[str, str]) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return s.post(url, data=fields, headers=headers, allow_redirects=False, timeout=60)


def step_up(stack: Stack, s: requests.Session, answer: requests.Response, user: str) -> str:
    """Completes the step-up login a POST answered with (a redirect to the provider), as
    the user at a browser would; returns where the dashboard sent them after it."""
    assert answer.status_code == 303, answer.text[:500]
    to_provider = answer.headers["location"]
    assert to_provider.startswith(stack.env["STACK_IDP_ISSUER"]), to_provider
    assert "max_age=" in to_provider  # RFC 9470: no older than the environment allows
    seen: list[str] = []
    back = idp_login.authcode_browser(to_provider, user, stack.env["STACK_PASSWORD"], seen=seen)
    assert "login" in seen  # the password again
    done = s.get(back, allow_redirects=False, timeout=60)
    assert done.status_code == 303, done.text[:500]
    return str(done.headers["location"])


def get_page(s: requests.Session, url: str) -> requests.Response:
    """A dashboard page, kept for test_zz_no_token's check of every page seen."""
    answer = s.get(url, timeout=60)
    PAGES_SEEN.append((url, answer.text))
    return answer


def text_of(page: str) -> str:
    """A page's text as a reader sees it: tags gone, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_approving_with_the_digest_of_the_diff_read(
    stack: Stack, chain: Chain, tmp_path: Path
) -> None:
    base = stack.env["SCIPIAN_BACKEND_URL"]
    name = create_promotion(stack, chain, tmp_path)
    page_url = f"{base}/ui/promotions/{name}"
    approve_url = f"{page_url}/steps/{chain.gated}/approve"
    # The backend executes the first step; the gated one waits for an approval.
    promo = wait_step(stack, name, chain.gated, "AwaitingApproval")
    render_digest = step_of(promo, chain.gated)["renderDigest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", render_digest)

    # The initiator: no Approve button, and her forged approval is refused (RBAC first).
    carol, carol_csrf = sign_in_http(stack, base, "carol")
    page = get_page(carol, page_url).text
    assert 'class="approve"' not in page
    forged = post_form(
        carol, approve_url,
        {"csrf": carol_csrf, "justification": "approving my own", "diffDigest": render_digest},
    )  # fmt: skip
    assert forged.status_code == 403, forged.text[:500]
    assert f"oidc:carol@example.test may not approve on environment {chain.gated}" in forged.text

    dave, dave_csrf = sign_in_http(stack, base, "dave")
    dave_signed_in = time.monotonic()
    page = get_page(dave, page_url).text
    # What the backend recorded: who, what, where, when, why; the first step's replica.
    record = text_of(page)
    chart_digest = promo["spec"]["chart"]["digest"]
    assert chart_digest in record and f"{chain.namespace}/{chain.release}" in record
    for env, digest in promo["spec"]["valuesDigests"].items():
        assert f"{env}: {digest}" in record
    executed_by = step_of(promo, chain.first)["executedBy"]
    assert executed_by and executed_by in record
    assert CONFIG_VALUE not in page and SECRET_VALUE not in page
    # The form carries the digest of the diff dave is shown: the step's renderDigest.
    assert form_digest(page, chain.gated) == render_digest

    # A form without the CSRF token (a cross-site form): refused, nothing recorded.
    no_token = post_form(
        dave, approve_url, {"justification": "forged", "diffDigest": render_digest}
    )
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    # A digest other than the step's (the diff changed since he read it): the backend's
    # 409 in the page, nothing recorded.
    stale = post_form(
        dave, approve_url,
        {"csrf": dave_csrf, "justification": "CAB approved", "diffDigest": "sha256:" + "0" * 64},
    )  # fmt: skip
    assert stale.status_code == 409, stale.text[:500]
    assert "the diff changed since you read it" in stale.text
    # No digest at all: refused before the backend is asked.
    bare = post_form(dave, approve_url, {"csrf": dave_csrf, "justification": "CAB approved"})
    assert bare.status_code == 400 and "diffDigest" in bare.text
    assert step_of(promotion(stack, name), chain.gated).get("approvals") in (None, [])

    # The right digest with a login older than the environment allows: a step-up login,
    # then the approval runs on return with the digest the form carried.
    time.sleep(max(0.0, dave_signed_in + MAX_AUTH_AGE + 1 - time.monotonic()))
    asked = post_form(
        dave, approve_url,
        {"csrf": dave_csrf, "justification": "CAB approved CHG-42", "diffDigest": render_digest},
    )  # fmt: skip
    after = step_up(stack, dave, asked, "dave")
    assert after == f"/ui/promotions/{name}?approved={chain.gated}"
    [approval] = step_of(promotion(stack, name), chain.gated)["approvals"]
    assert (approval["user"], approval["justification"], approval["diffDigest"]) == (
        "oidc:dave@example.test",
        "CAB approved CHG-42",
        render_digest,
    )

    # The backend deploys the gated step; the page shows the approval with its digest and
    # the replica that executed the step.
    done = wait_step(stack, name, chain.gated, "Succeeded")
    wait_for(
        f"{name} Succeeded",
        lambda: promotion(stack, name)["status"].get("phase") == "Succeeded",
        BOUND,
    )
    page = get_page(dave, f"{base}{after}").text
    assert 'id="approved"' in page and 'class="approve"' not in page
    record = text_of(page)
    assert f"oidc:dave@example.test at {approval['time']}: CAB approved CHG-42" in record
    assert render_digest in record
    assert step_of(done, chain.gated)["executedBy"] in record
    assert CONFIG_VALUE not in page and SECRET_VALUE not in page


def test_the_diff_page_shows_key_names_and_secrets_as_present(
    stack: Stack, chain: Chain, tmp_path: Path
) -> None:
    base = stack.env["SCIPIAN_BACKEND_URL"]
    name = create_promotion(stack, chain, tmp_path)
    promo = wait_step(stack, name, chain.gated, "AwaitingApproval")
    render_digest = step_of(promo, chain.gated)["renderDigest"]
    dave, _ = sign_in_http(stack, base, "dave")
    answer = get_page(dave, f"{base}/ui/promotions/{name}/steps/{chain.gated}/diff")
    assert answer.status_code == 200, answer.text[:500]
    page = answer.text
    shown = re.search(r'id="diff-digest">([^<]*)<', page)
    assert shown is not None and shown.group(1) == render_digest
    assert form_digest(page, chain.gated) == render_digest
    rows = dict(re.findall(r'<tr data-object="([^"]+)">(.*?)</tr>', page, re.S))
    # Nothing of the release on prod yet: everything is added.
    settings = text_of(rows[f"ConfigMap/{chain.release}-settings"])
    assert "added" in settings and "greeting" in settings
    secret = text_of(rows[f"Secret/{chain.release}-token"]).replace(f"{chain.release}-token", "")
    assert "present" in secret and "token" not in secret  # not its key name either
    assert any(k.startswith("Deployment/") for k in rows), list(rows)
    # No value of any kind: neither those set at creation nor the chart's default apiKey.
    for value in (CONFIG_VALUE, SECRET_VALUE, "shop-web-default-key"):
        assert value not in page
    # dave approves only the gated step: the first step's diff is not his to read.
    other = get_page(dave, f"{base}/ui/promotions/{name}/steps/{chain.first}/diff")
    assert other.status_code == 403, other.text[:500]


def test_cancel_from_the_dashboard(stack: Stack, chain: Chain, tmp_path: Path) -> None:
    base = stack.env["SCIPIAN_BACKEND_URL"]
    name = create_promotion(stack, chain, tmp_path)
    wait_step(stack, name, chain.gated, "AwaitingApproval")
    page_url = f"{base}/ui/promotions/{name}"
    cancel_url = f"{page_url}/cancel"

    # alice reads promotions and deploys to `dev` only: no Cancel button, and the backend
    # refuses her forged request.
    alice, alice_csrf = sign_in_http(stack, base, "alice")
    assert 'id="cancel"' not in get_page(alice, page_url).text
    refused = post_form(alice, cancel_url, {"csrf": alice_csrf, "justification": "not mine"})
    assert refused.status_code == 403, refused.text[:500]
    assert f"may not cancel promotion {name}" in refused.text
    assert not promotion(stack, name)["status"].get("cancelRequest")

    carol, carol_csrf = sign_in_http(stack, base, "carol")
    assert 'id="cancel"' in get_page(carol, page_url).text
    # Without the CSRF token (a cross-site form): refused, nothing asked.
    forged = post_form(carol, cancel_url, {"justification": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert not promotion(stack, name)["status"].get("cancelRequest")
    # Without a reason: refused.
    bare = post_form(carol, cancel_url, {"csrf": carol_csrf})
    assert bare.status_code == 400, bare.text[:500]

    asked = post_form(carol, cancel_url, {"csrf": carol_csrf, "justification": "wrong chart"})
    if asked.status_code == 303 and asked.headers["location"].startswith("http"):
        after = step_up(stack, carol, asked, "carol")  # if the backend asks a fresher login
    else:
        assert asked.status_code == 303, asked.text[:500]
        after = asked.headers["location"]
    assert after == f"/ui/promotions/{name}?cancelled=1"
    request = promotion(stack, name)["status"]["cancelRequest"]
    assert (request["user"], request["justification"]) == ("oidc:carol@example.test", "wrong chart")
    wait_for(
        f"{name} Cancelled",
        lambda: promotion(stack, name)["status"].get("phase") == "Cancelled",
        BOUND,
    )
    page = get_page(carol, page_url).text
    assert 'id="cancel"' not in page  # nothing left to cancel
    assert "wrong chart" in text_of(page)
    listing = get_page(carol, f"{base}/ui/promotions").text
    row = re.search(rf'<tr data-promo="{re.escape(name)}">(.*?)</tr>', listing, re.S)
    assert row is not None
    assert 'class="promo-phase phase-Cancelled">Cancelled<' in row.group(1)


def test_promotions_are_read_as_rbac_allows(stack: Stack) -> None:
    base = stack.env["SCIPIAN_BACKEND_URL"]
    mallory, _ = sign_in_http(stack, base, "mallory")
    refused = get_page(mallory, f"{base}/ui/promotions")
    assert refused.status_code == 403
    assert 'cannot list resource "promotions"' in html.unescape(refused.text)
    alice, _ = sign_in_http(stack, base, "alice")
    assert 'id="promotions"' in get_page(alice, f"{base}/ui/promotions").text

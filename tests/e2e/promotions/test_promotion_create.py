"""Creating a promotion (change.md §5 "Create"), over raw HTTP as a hostile client would:
the uploaded archive pinned by digest, values and sets pinned per step in a Secret the
Promotion owns, every step rendered by the backend's helm and refused when the render
fails, is not reproducible or reads `.Release.Revision`; no route changes a promotion's
values afterwards; the long poll; version 1's step routes answer 410."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import requests

from scipian_backend.promotions.values import StepInputs, inputs_digest
from tests.conftest import Stack
from tests.e2e.promotions.world import (
    Api,
    Archive,
    Flow,
    Logins,
    plan,
    rollback_plan,
    step_of,
    upgrade_args,
    values_file,
)

pytestmark = pytest.mark.stack

REMOVED = [
    "/api/v1/promotions/{name}/steps/dev/kubeconfig",
    "/api/v1/promotions/{name}/steps/dev/report",
    "/api/v1/promotions/{name}/steps/dev/verify",
    "/api/v1/promotions/{name}/resume",
]


def promotions_of(stack: Stack, release: str) -> list[dict[str, Any]]:
    out = stack.kubectl("mgmt", "get", "promotions.scipian.io", "-o", "json")
    return [i for i in json.loads(out.stdout)["items"] if i["spec"]["release"] == release]


@pytest.mark.parametrize("path", REMOVED)
def test_version_1_step_routes_answer_410(api: Api, logins: Logins, path: str) -> None:
    """Whoever asks, with whatever body: one line, no step credential, no state read."""
    for token in (None, logins.token("carol")):
        got = api.call("POST", path.format(name="any-promo-x1"), token, {"helmExitCode": 0})
        assert got.status_code == 410, got.text
        body = got.json()
        assert body["reason"] == "Gone"
        assert "executed by the backend" in body["message"] and "\n" not in body["message"]


def test_values_and_sets_are_pinned_per_step_in_a_secret_the_promotion_owns(
    stack: Stack, api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    carol = logins.fresh("carol")
    common = "replicas: 1\nmarker: pinned-value-5b1e\n"
    own = "replicas: 2\n"
    body_values = {
        "*": [values_file("common.yaml", common)],
        "staging": [values_file("s.yaml", own)],
    }
    sets = {"dev": ["image=registry.example/shop-web:1.2-dev"]}
    up = api.upload(carol, charts["1.2.0"], ["dev", "staging"])
    assert up.status_code in (200, 201), up.text
    created = api.create(
        carol,
        **plan(release, charts["1.2.0"], ["dev", "staging"], values=body_values, set=sets),
    )
    assert created.status_code == 201, created.text
    promo = created.json()
    name = promo["metadata"]["name"]
    assert promo["metadata"]["finalizers"] == ["scipian.io/executor"]
    assert promo["spec"]["chart"] == charts["1.2.0"].ref()
    dev = StepInputs([("common.yaml", common.encode())], sets["dev"])
    staging = StepInputs([("common.yaml", common.encode()), ("s.yaml", own.encode())], [])
    assert promo["spec"]["valuesDigests"] == {
        "dev": inputs_digest(dev),
        "staging": inputs_digest(staging),
    }
    # Each step's render is bound to its own values: other values, another digest.
    digests = {s["environment"]: s["renderDigest"] for s in promo["status"]["steps"]}
    assert all(d.startswith("sha256:") and len(d) == 71 for d in digests.values())
    assert digests["dev"] != digests["staging"]
    # The values live in one Secret owned by the Promotion, never in the Promotion itself.
    assert "pinned-value-5b1e" not in json.dumps(promo)
    assert "pinned-value-5b1e" not in api.get(carol, name).text
    secret = json.loads(
        stack.kubectl(
            "mgmt", "get", "secret", f"values-{name}", "-n", "scipian-artifacts", "-o", "json"
        ).stdout
    )
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Promotion",
        name,
        promo["metadata"]["uid"],
    )
    stored = json.loads(base64.b64decode(secret["data"]["values.json"]))
    assert set(stored) == {"dev", "staging"}


def test_no_route_changes_a_promotions_values(
    api: Api, flow: Flow, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, charts["1.2.0"], ["dev", "staging", "prod"])
    name = promo["metadata"]["name"]
    other = {"*": [values_file("v.yaml", "replicas: 9\n")]}
    for method in ("PUT", "PATCH"):
        got = api.call(method, f"/api/v1/promotions/{name}", carol, {"values": other})
        assert got.status_code == 405, (method, got.text)
    for path in (f"/api/v1/promotions/{name}/values", f"/api/v1/promotions/{name}/steps/dev"):
        assert api.call("POST", path, carol, {"values": other}).status_code in (404, 405)
    # A second promotion of the release with other values: the release's promotion holds.
    again = api.create(carol, **plan(release, charts["1.2.0"], ["dev"], values=other))
    assert again.status_code == 409, again.text
    assert api.get(carol, name).json()["spec"]["valuesDigests"] == promo["spec"]["valuesDigests"]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("random", "dev: rendering failed: two renders differ"),
        ("revision", "rendering failed: the chart's templates read .Release.Revision"),
        ("fail", "dev: rendering failed"),
    ],
)
def test_a_chart_whose_render_cannot_be_approved_is_refused_at_creation(
    stack: Stack,
    api: Api,
    logins: Logins,
    hostile_charts: dict[str, Archive],
    charts: dict[str, Archive],
    release: str,
    kind: str,
    reason: str,
) -> None:
    carol = logins.fresh("carol")
    chart = hostile_charts[kind]
    up = api.upload(carol, chart, ["dev"])
    assert up.status_code in (200, 201), up.text
    refused = api.create(carol, **plan(release, chart, ["dev"]))
    assert refused.status_code == 400, refused.text
    assert refused.json()["reason"] == "BadRequest"
    assert refused.json()["message"].startswith(reason)
    assert "render-secret-text" not in refused.text  # the chart's own words stay in helm's
    assert promotions_of(stack, release) == []
    # Nothing was held: the release takes a good chart at once.
    assert api.upload(carol, charts["1.1.0"], ["dev"]).status_code in (200, 201)
    assert api.create(carol, **plan(release, charts["1.1.0"], ["dev"])).status_code == 201


def test_the_chart_must_be_an_uploaded_archive_of_that_name_and_version(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str
) -> None:
    carol = logins.fresh("carol")
    never = {"digest": "sha256:" + "7" * 64, "name": "shop-web", "version": "1.2.0"}
    body = plan(release, charts["1.2.0"], ["dev"])
    missing = api.create(carol, **{**body, "chart": never})
    assert missing.status_code == 400
    assert "is not uploaded" in missing.json()["message"]
    assert api.upload(carol, charts["1.2.0"], ["dev"]).status_code in (200, 201)
    lying = api.create(carol, **{**body, "chart": {**body["chart"], "version": "9.9.9"}})
    assert lying.status_code == 400
    assert lying.json()["message"].endswith("is shop-web 1.2.0, not shop-web 9.9.9")


def test_bodies_are_bounded_before_authentication(api: Api, release: str) -> None:
    """No token at all: the body is refused first (413 beyond 160 KiB, 400 beyond 96 KiB
    of values, 400 for chart and rollbackTo together)."""
    chart = {"digest": "sha256:" + "1" * 64, "name": "shop-web", "version": "1.2.0"}
    base = {"release": release, "namespace": "shop", "through": ["dev"], "justification": "x"}
    big = base64.b64encode(b"a" * 100 * 1024).decode()  # 136 KiB of base64
    over = api.create("", **base, chart=chart, values={"*": [{"name": "v", "contentBase64": big}]})
    assert over.status_code == 400 and "exceed 98304 bytes" in over.json()["message"]
    huge = base64.b64encode(b"a" * 130 * 1024).decode()  # > 160 KiB in all
    body = {**base, "chart": chart, "values": {"*": [{"name": "v", "contentBase64": huge}]}}
    assert api.create("", **body).status_code == 413
    both = api.create("", **base, chart=chart, rollbackTo=1)
    assert both.status_code == 400 and "either chart or rollbackTo" in both.json()["message"]


def test_the_long_poll_returns_on_a_change(
    api: Api, logins: Logins, charts: dict[str, Archive], release: str, admin: Any
) -> None:
    """A rollback on prod waits for its approval (nothing runs): a watch from its current
    version returns with the change another request makes."""
    admin("prod", *upgrade_args(release, charts["1.1.0"]))
    dave = logins.fresh("dave")
    created = api.create(dave, **rollback_plan(release, 1, "prod"))
    assert created.status_code == 201, created.text
    promo = created.json()
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval"
    name, rv = promo["metadata"]["name"], promo["metadata"]["resourceVersion"]
    answers: list[requests.Response] = []
    started = threading.Event()

    def watch() -> None:
        started.set()
        answers.append(Api(api.url).watch(dave, name, rv))

    t = threading.Thread(target=watch)
    t.start()
    started.wait()
    cancelled = api.cancel(logins.token("carol"), name, "not this one")
    assert cancelled.status_code == 200, cancelled.text
    t.join(150)
    [got] = answers
    assert got.status_code == 200, got.text
    assert got.json()["metadata"]["resourceVersion"] != rv
    assert got.json()["status"]["cancelRequest"]["user"] == "oidc:carol@example.test"
    # A stale version answers at once with the object as it is now.
    stale = api.watch(dave, name, rv)
    assert stale.status_code == 200
    request = stale.json()["status"]["cancelRequest"]
    assert request["reason"] == "cancelled by oidc:carol@example.test"
    assert api.watch(dave, name, "not-a-version").status_code == 400

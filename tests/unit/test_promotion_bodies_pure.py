"""The promotion routes' service, its pure parts: the create, approval and cancel bodies,
values per step and their digest, the creation scan for .Release.Revision, the approval
digest gate."""

from __future__ import annotations

import base64
import io
import tarfile
from datetime import datetime, timezone
from typing import Any

import pytest

from scipian_backend.errors import BadRequest
from scipian_backend.promotions import bodies, gates
from scipian_backend.promotions import records as r
from scipian_backend.promotions.creation import uses_revision
from scipian_backend.promotions.values import (
    StepInputs,
    _document,
    inputs_digest,
    parse_document,
    step_inputs,
)

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
B64 = base64.b64encode(b"replicas: 2\n").decode()
GOOD: dict[str, Any] = {
    "release": "web",
    "namespace": "shop",
    "chart": {"digest": DIGEST, "name": "shop-web", "version": "1.2.0"},
    "through": ["dev", "prod"],
    "justification": "CHG-42",
}


def test_create_body() -> None:
    req = bodies.create_request(dict(GOOD))
    assert req.timeout_seconds == 300 and req.soak_seconds == 0
    assert req.values == {} and req.sets == {} and req.rollback_to is None
    with_values = bodies.create_request(
        {
            **GOOD,
            "values": {"*": [{"name": "v.yaml", "contentBase64": B64}]},
            "set": {"prod": ["image.tag=1.2"]},
        }
    )
    assert with_values.values == {"*": [("v.yaml", b"replicas: 2\n")]}
    assert with_values.sets == {"prod": ["image.tag=1.2"]}
    assert bodies.scopes_problem(with_values) is None
    stray = bodies.create_request({**GOOD, "set": {"staging": ["a=1"]}})
    assert (
        bodies.scopes_problem(stray) == "values and set name environments not in the chain: staging"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "through": []},
        {**GOOD, "through": ["dev", "dev"]},
        {**GOOD, "chart": {**GOOD["chart"], "digest": "md5:1"}},
        {**GOOD, "chart": {**GOOD["chart"], "identity": DIGEST}},
        {**GOOD, "rollbackTo": 3},  # chart and rollbackTo
        {k: v for k, v in GOOD.items() if k != "chart"},  # neither
        {**GOOD, "breakGlass": True},  # break-glass is for rollbacks only
        {**GOOD, "soakSeconds": -1},
        {**GOOD, "timeoutSeconds": 10},
        {**GOOD, "justification": "two\nlines"},
        {**GOOD, "valuesDigests": {"dev": DIGEST}},  # v1's field: the backend pins them now
        {**GOOD, "values": {"Dev": []}},
        {**GOOD, "values": {"*": [{"name": "../x", "contentBase64": B64}]}},
        {**GOOD, "values": {"*": [{"name": "v.yaml", "contentBase64": "not base64!"}]}},
        {**GOOD, "values": {"*": [{"name": "v.yaml", "contentBase64": B64}] * 21}},
        {**GOOD, "set": {"*": ["no-equals"]}},
        {**GOOD, "set": {"*": ["a=1\nb=2"]}},
        {**GOOD, "set": {"*": ["a=" + "x" * 5000]}},
    ],
)
def test_create_body_refusals(bad: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        bodies.create_request(bad)


def test_values_are_bounded_in_all() -> None:
    big = base64.b64encode(b"x" * 3000).decode()  # 4000 characters of base64
    doc = {**GOOD, "values": {"*": [{"name": "a.yaml", "contentBase64": big}]}}
    assert bodies.create_request(doc, most=4000).values["*"][0][1] == b"x" * 3000
    with pytest.raises(BadRequest, match="exceed 3999 bytes"):
        bodies.create_request(doc, most=3999)
    with pytest.raises(BadRequest, match="exceed 4000 bytes"):  # sets count too
        bodies.create_request({**doc, "set": {"*": ["a=1"]}}, most=4000)


def test_rollback_body() -> None:
    doc = {k: v for k, v in GOOD.items() if k != "chart"}
    req = bodies.create_request({**doc, "through": ["prod"], "rollbackTo": 3, "breakGlass": True})
    assert (req.chart, req.rollback_to, req.break_glass) == (None, 3, True)
    for bad in (
        {**doc, "rollbackTo": 3},  # two steps
        {**doc, "through": ["prod"], "rollbackTo": 0},
        {**doc, "through": ["prod"], "rollbackTo": 3, "set": {"*": ["a=1"]}},
        {**doc, "through": ["prod"], "rollbackTo": 3, "breakGlass": "yes"},
    ):
        with pytest.raises(BadRequest):
            bodies.create_request(bad)


def test_approval_and_cancel_bodies() -> None:
    assert bodies.approval_request({"justification": "ok", "diffDigest": DIGEST}) == (
        "ok",
        DIGEST,
    )
    for bad in ({"justification": "ok"}, {"justification": "ok", "diffDigest": "x"}, {}):
        with pytest.raises(BadRequest):
            bodies.approval_request(bad)
    assert bodies.cancel_request({"justification": "stop"}) == "stop"
    with pytest.raises(BadRequest):
        bodies.cancel_request({"justification": "stop", "now": True})


def test_step_inputs_common_first_and_digest_binds_order_and_bytes() -> None:
    values = {"*": [("a.yaml", b"a: 1\n")], "prod": [("p.yaml", b"a: 2\n")]}
    sets = {"*": ["x=1"], "prod": ["x=2"]}
    prod = step_inputs(values, sets, "prod")
    assert prod == StepInputs([("a.yaml", b"a: 1\n"), ("p.yaml", b"a: 2\n")], ["x=1", "x=2"])
    dev = step_inputs(values, sets, "dev")
    assert dev == StepInputs([("a.yaml", b"a: 1\n")], ["x=1"])
    assert inputs_digest(prod) != inputs_digest(dev)
    swapped = StepInputs(list(reversed(prod.files)), prod.sets)
    assert inputs_digest(swapped) != inputs_digest(prod)
    assert inputs_digest(StepInputs([("a.yaml", b"a: 9\n")], [])) != inputs_digest(dev)
    assert inputs_digest(step_inputs(values, sets, "prod")) == inputs_digest(prod)


def test_stored_document_round_trips_and_refuses_garbage() -> None:
    prod = StepInputs([("p.yaml", b"\x00binary\xff")], ["a=b"])
    doc = _document({"prod": prod})
    assert parse_document(doc, "prod") == prod
    assert parse_document(doc, "dev") is None
    assert parse_document(b"{not json", "prod") is None
    assert parse_document(b'{"prod": {"files": [["x", "%%%"]]}}', "prod") is None


def archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_release_revision_is_found_in_templates_and_subcharts() -> None:
    plain = {"web/Chart.yaml": b"name: web\n", "web/templates/cm.yaml": b"x: {{ .Values.a }}\n"}
    assert not uses_revision(archive(plain))
    used = {**plain, "web/templates/cm.yaml": b"rev: {{ .Release.Revision }}\n"}
    assert uses_revision(archive(used))
    by_name = {**plain, "web/templates/_h.tpl": b'{{ index .Release "Revision" }}'}
    assert uses_revision(archive(by_name))
    sub = archive({"db/templates/s.yaml": b"{{ $r := .Release }}{{ $r.Revision }}"})
    assert uses_revision(archive({**plain, "web/charts/db-1.0.0.tgz": sub}))
    # Outside templates (a README, values) it is only text.
    assert not uses_revision(archive({**plain, "web/README.md": b".Release.Revision"}))
    assert uses_revision(b"not an archive")


def test_an_approval_binds_the_render_digest() -> None:
    p: dict[str, Any] = {
        "metadata": {"name": "web-abcde"},
        "spec": {"initiator": {"user": "carol"}, "through": ["dev"]},
        "status": r.initial_status(["dev"], {"dev": 1}, datetime(2026, 12, 1, tzinfo=timezone.utc)),
    }
    p["status"]["steps"][0]["renderDigest"] = DIGEST
    assert gates.digest_problem(p, 0, DIGEST) is None
    assert gates.digest_problem(p, 0, OTHER) == gates.Gate(
        "conflict", "the diff changed since you read it"
    )
    p["status"]["cancelRequest"] = {"user": "carol", "reason": "cancelled by carol"}
    gate = gates.approval_problem(p, 0, "dave")
    assert gate is not None and gate.kind == "conflict"

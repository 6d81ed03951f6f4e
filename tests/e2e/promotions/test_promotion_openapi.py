"""The promotion routes /openapi.json publishes are the ones docs/api.md documents."""

from __future__ import annotations

import re

import pytest

from tests.e2e.promotions.world import Api
from tests.stack.paths import ROOT

pytestmark = pytest.mark.stack


def test_openapi_and_docs_name_the_same_promotion_routes(api: Api) -> None:
    paths = api.call("GET", "/openapi.json", None).json()["paths"]
    published = {
        f"{method.upper()} {path.replace('{env_id}', '{env}')}"
        for path, ops in paths.items()
        if path.startswith("/api/v1/promotions")
        for method in ops
    }
    section = (ROOT / "docs" / "api.md").read_text().split("## Promotions", 1)[1]
    section = section.split("\n## ", 1)[0]
    quoted = re.findall(r"`((?:GET|POST) /api/v1/promotions[^` ]*)`", section)
    documented = {route.split("?", 1)[0] for route in quoted}  # the long poll: a query
    assert published == documented
    # create, list, get (and its long poll), approve, cancel, the diff; version 1's step
    # routes (kubeconfig, report, verify, resume) answer 410 and are not published
    assert len(published) == 6
    assert not {
        p for p in published if p.endswith(("/kubeconfig", "/report", "/verify", "/resume"))
    }

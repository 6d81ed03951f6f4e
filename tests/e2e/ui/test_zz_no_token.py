"""Runs after the other dashboard modules (its name): no token in any page or URL any of
their browsers saw, nor in the backend's log, nor the dashboard client's secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.ui.conftest import PAGES_SEEN

pytestmark = pytest.mark.stack
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def test_zz_no_token_in_any_page_url_or_log(stack: Stack) -> None:
    """Every page and URL the browsers saw in this module, and the backend's log."""
    assert PAGES_SEEN, "the browser tests above saw no page"
    for url, source in PAGES_SEEN:
        assert not JWT.search(url), url
        assert not JWT.search(source), url
        assert "id_token" not in url and "access_token" not in url
    log = Path(stack.env["STACK_LOGS_DIR"]) / "backend.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    assert not JWT.search(text)
    assert "scipian_session=" not in text
    secret = Path(stack.env["STACK_DIR"]) / "backend" / "ui-client-secret"
    if secret.exists():
        value = secret.read_text().strip()
        assert value not in text
        assert all(value not in source for _, source in PAGES_SEEN)

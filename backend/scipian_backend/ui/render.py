"""Templates (Jinja2, autoescaped, shipped in the package) rendered into HTML responses.

Every page gets the viewer (name and groups, never a token) and the CSRF token of the
session, which only the logout form (and later actions) carries, in a hidden field.
"""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from scipian_backend import __version__
from scipian_backend.ui.session import Session


class Renderer:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("scipian_backend.ui", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a misspelt name fails the page, in tests
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def html(self, template: str, context: dict[str, Any], session: Session | None) -> str:
        viewer = None
        if session is not None:
            who = session.identity
            viewer = {"user": who.username, "groups": list(who.groups)}
        return self._env.get_template(template).render(
            **context,
            viewer=viewer,
            csrf=session.csrf if session is not None else "",
            version=__version__,
        )

    def page(
        self, template: str, context: dict[str, Any], session: Session | None, status: int = 200
    ) -> HTMLResponse:
        return HTMLResponse(self.html(template, context, session), status_code=status)

"""`POST /api/v1/environments/{env_id}/kubeconfig`, answered in front of the FastAPI app.

Every credential goes through this route. From the ASGI call to the use case, FastAPI's
layers around it (its middleware stack, routing, dependency solving) held the event loop
0.45 ms per issuance; this class takes 0.26 ms, the hand-off to the worker thread
included (timed inside the backend; bench/: backend_issue). It calls the route's handler
(routes.issue_kubeconfig, which the app's own declaration of the route also calls) with
what those layers gave it: the request id, the request metrics, the contract's error
bodies and the JSON 500. Everything else, this path's other methods included, goes to
the app, and /openapi.json documents the route from that declaration.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from scipian_backend.errors import ApiError
from scipian_backend.http.error_bodies import api_error_response, error_response
from scipian_backend.http.middleware import log_failure, request_id
from scipian_backend.http.routes import KUBECONFIG_ROUTE, issue_kubeconfig
from scipian_backend.usecases import Backend

ROUTE = KUBECONFIG_ROUTE  # the app's declaration; the metrics' route label
PATH = re.compile(r"^/api/v1/environments/(.*)/kubeconfig$")  # what ROUTE matches


class KubeconfigRoute:
    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = PATH.match(scope["path"]) if scope["type"] == "http" else None
        if found is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        started = time.perf_counter()
        response: Response
        try:
            response = await issue_kubeconfig(self.backend, found[1], Request(scope, receive))
        except ApiError as e:
            response = api_error_response(e)
        except Exception as exc:
            log_failure(rid, exc)
            response = error_response(500, "InternalError", "internal error")
        response.headers["X-Request-Id"] = rid
        await response(scope, receive, send)
        self.backend.metrics.request(ROUTE, response.status_code, time.perf_counter() - started)

"""`create_app(backend)`: the ASGI app around a Backend's use cases: the FastAPI app,
behind the issuance route's own handler (http/issuance.py).

It takes its collaborators, so several apps (each with its own metrics) live in one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from scipian_backend import __version__
from scipian_backend.accessrequests.routes import install_access_request_routes
from scipian_backend.artifacts.routes import install_artifact_routes
from scipian_backend.breakglass.routes import install_break_glass_routes
from scipian_backend.http.error_bodies import install_error_handlers
from scipian_backend.http.issuance import KubeconfigRoute
from scipian_backend.http.middleware import RequestIdAndMetrics
from scipian_backend.http.routes import install_routes
from scipian_backend.promotions.diff_routes import install_diff_routes
from scipian_backend.promotions.routes import install_promotion_routes
from scipian_backend.releases.routes import install_release_routes
from scipian_backend.usecases import Backend


def create_app(backend: Backend) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The listing's caches first: /readyz fails until both have listed.
        await run_in_threadpool(backend.start_caches, backend.settings.cache_ready_seconds)
        if backend.worker is not None:  # serve: this replica's worker room
            await run_in_threadpool(backend.worker.start)
        try:
            yield
        finally:
            backend.stop_caches()
            # Shutdown (SIGTERM from the kubelet, too): running turns end or give their
            # claims up, then the aggregated Events still pending are posted.
            if backend.worker is not None:
                await run_in_threadpool(backend.worker.stop)
            await run_in_threadpool(backend.auditor.close)
            if backend.notifier is not None:
                await run_in_threadpool(backend.notifier.close)

    app = FastAPI(
        title="Scipian backend",
        version=__version__,
        description="Short-lived, audited kubeconfigs for Scipian environments (docs/api.md).",
        lifespan=lifespan,
        # No Swagger UI or ReDoc: they load scripts from a CDN on the dashboard's origin,
        # outside its CSP. The OpenAPI document stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend
    app.add_middleware(RequestIdAndMetrics, metrics=backend.metrics)
    install_error_handlers(app)
    install_routes(app, backend)
    install_release_routes(app, backend)
    install_promotion_routes(app, backend)
    install_diff_routes(app, backend)
    install_break_glass_routes(app, backend)
    install_artifact_routes(app, backend)
    install_access_request_routes(app, backend)
    if backend.settings.ui_client_id:
        # The dashboard (docs/ui.md); imported only when configured (Jinja2 and its pages).
        from scipian_backend.ui.routes import install_ui_routes

        install_ui_routes(app, backend)
    return KubeconfigRoute(app, backend)

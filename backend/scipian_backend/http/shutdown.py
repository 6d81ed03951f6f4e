"""A replica's SIGTERM, as a balancer or the kubelet needs it (docs/backend.md "Shutdown").

On SIGTERM the replica first fails /readyz for `unready_seconds` while still serving
everything (the balancer's health checks, or the readiness probe, take it out of rotation
meanwhile), then stops listening and gives requests in flight up to `drain_seconds` to end
(uvicorn's graceful shutdown; still running then, they are cancelled), and then the app's
lifespan stops the worker room. A second SIGTERM, or SIGINT (a person's Ctrl-C), skips the
wait.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger("scipian_backend.shutdown")


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, unready_seconds: float, on_unready: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self._unready_seconds = unready_seconds
        self._on_unready = on_unready
        self._unready = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._unready or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._unready = True
        self._on_unready()
        log.warning(
            "SIGTERM: /readyz fails for %gs, then in-flight requests drain", self._unready_seconds
        )
        timer = threading.Timer(self._unready_seconds, self._stop_listening)
        timer.daemon = True
        timer.start()

    def _stop_listening(self) -> None:
        self.should_exit = True  # uvicorn's main loop sees it within 0.1 s

"""`serve`'s wiring of the worker room: built unless --no-worker, named by --replica-id,
started and stopped by the app's lifespan (no cluster needed: mgmt is unreachable here, so
the room only retries its watches)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from scipian_backend.config import Settings
from scipian_backend.http.factory import create_app
from scipian_backend.usecases import Backend
from scipian_backend.wiring import NO_WORKER_WARNING, build_backend
from scipian_backend.worker.settings import WorkerSettings


def _backend(tmp_path: Path, worker: WorkerSettings) -> Backend:
    kubeconfig = tmp_path / "mgmt.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "m", "context": {"cluster": "m", "user": "u"}}],
                "current-context": "m",
            }
        )
    )
    settings = Settings(
        issuer="https://idp.example.test",
        client_id="kubectl-scipian",
        mgmt_kubeconfig=str(kubeconfig),
        worker=worker,
        # Nothing listens at this mgmt: the lifespan's start would wait the default 30 s
        # for the Environment cache and RBAC index before it starts the room.
        cache_ready_seconds=0.5,
    )
    return build_backend(settings)


def test_serve_builds_a_room_named_by_the_replica_id(tmp_path: Path) -> None:
    backend = _backend(tmp_path, WorkerSettings(replica="replica-a"))
    assert backend.worker is not None
    assert backend.replica == backend.worker.replica == "replica-a"


def test_no_worker_builds_none(tmp_path: Path) -> None:
    backend = _backend(tmp_path, WorkerSettings(enabled=False, replica="replica-b"))
    assert backend.worker is None
    assert backend.replica == "replica-b"  # still named: executedBy, logs


def test_no_worker_warns_that_request_credentials_outlive_their_window(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="scipian.wiring"):
        _backend(tmp_path, WorkerSettings(enabled=False, replica="replica-w"))
    assert [r.getMessage() for r in caplog.records] == [NO_WORKER_WARNING]
    assert "--no-worker" in NO_WORKER_WARNING and "until they expire" in NO_WORKER_WARNING


def test_a_worker_room_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scipian.wiring"):
        _backend(tmp_path, WorkerSettings(replica="replica-x"))
    assert caplog.records == []


def test_the_lifespan_starts_and_stops_the_room(tmp_path: Path) -> None:
    """The ASGI lifespan as uvicorn drives it: startup starts the room, shutdown (SIGTERM)
    stops it."""
    backend = _backend(tmp_path, WorkerSettings(replica="replica-c", stop_seconds=1.0))
    room = backend.worker
    assert room is not None and room.state == "new"
    seen: list[str] = []

    async def cycle() -> None:
        inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        asgi = create_app(backend)
        app = asyncio.ensure_future(asgi(scope, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        seen.append(room.state)
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await app

    asyncio.run(cycle())
    assert seen == ["running"]
    assert room.state == "stopped"

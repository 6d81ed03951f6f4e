"""One stored object's GET with its long poll (docs/api.md: `?watch=true&resourceVersion=N`),
shared by the promotion and access request routes. Without both parameters the object is
read at once; with them the service's `watch` waits for a newer version."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Annotated, Any, Protocol

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from scipian_backend.errors import BadRequest
from scipian_backend.http.calls import authorization, request_id

RESOURCE_VERSION = re.compile(r"^[0-9]{1,20}$")
# The query parameter as the routes declare it (the API's spelling: resourceVersion).
ResourceVersion = Annotated[str, Query(pattern=RESOURCE_VERSION.pattern, max_length=20)]


class Watchable(Protocol):
    """A service whose objects can be read and long-polled by name."""

    watch_pool: Executor

    def get(self, name: str, auth: str | None, rid: str, /) -> Any: ...

    def watch(self, name: str, version: str, auth: str | None, rid: str, /) -> Any: ...


async def get_or_watch(
    service: Callable[[], Watchable],
    name: str,
    watch: bool,
    resource_version: str,
    request: Request,
) -> JSONResponse:
    """`service` is called only once the parameters are checked (an unconfigured service
    answers 503 after a bad version's 400, as before)."""
    auth, rid = authorization(request), request_id(request)
    if not watch or not resource_version:
        # without a version the client has none: the object as it is now, at once
        return JSONResponse(await run_in_threadpool(service().get, name, auth, rid))
    if not RESOURCE_VERSION.fullmatch(resource_version):
        raise BadRequest("resourceVersion must be the object's version (digits)")
    # Long polls wait in the service's own threads, never in the routes' pool.
    loop = asyncio.get_running_loop()
    svc = service()
    body = await loop.run_in_executor(svc.watch_pool, svc.watch, name, resource_version, auth, rid)
    return JSONResponse(body)

"""Paged lists (`limit`/`continue`) read as plain JSON, and deletes that tolerate 404."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.rest import ApiException

from scipian_backend import kube

CHANGED = -1  # deleted(): a precondition failed, the object stays


class OutOfTime(Exception):
    """A target's (or mgmt's) share of the pass ran out."""


def remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutOfTime()
    return left


def pages(
    list_fn: Callable[..., Any],
    *args: str,
    page_size: int,
    timeout: float,
    deadline: float,
    **selectors: str,
) -> Iterator[dict[str, Any]]:
    """Every item of a list call, `page_size` at a time, each call bounded by `timeout`
    and the deadline."""
    token = ""
    while True:
        kwargs: dict[str, Any] = dict(selectors)
        if token:
            kwargs["_continue"] = token
        body = kube.json_body(
            list_fn(
                *args,
                limit=page_size,
                _request_timeout=min(timeout, remaining(deadline)),
                _preload_content=False,
                **kwargs,
            )
        )
        items = body.get("items")
        yield from (i for i in items or [] if isinstance(i, dict))
        token = str((body.get("metadata") or {}).get("continue") or "")
        if not token:
            return


def deleted(delete_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """1 when deleted; 0 when already gone (404: also a delete the HTTP client retried
    after a lost answer); CHANGED when its precondition failed (409: changed since it was
    judged, so kept). The answer is not decoded (the models cost more CPU than the call)."""
    try:
        resp = delete_fn(*args, _preload_content=False, **kwargs)
        if hasattr(resp, "release_conn"):
            _ = resp.data  # read to its end: a connection given back unread breaks the next call
            resp.release_conn()
        return 1
    except ApiException as e:
        if kube.status_of(e) == 404:
            return 0
        if kube.status_of(e) == 409:
            return CHANGED
        raise


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}

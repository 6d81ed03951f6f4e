"""Paged lists (`limit`/`continue`) read as plain JSON, and deletes that tolerate 404."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.rest import ApiException

from scipian_backend import kube


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
    """1 when deleted; 0 when already gone (404) or changed since it was judged (409)."""
    try:
        delete_fn(*args, **kwargs)
        return 1
    except ApiException as e:
        if kube.status_of(e) in (404, 409):
            return 0
        raise


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}

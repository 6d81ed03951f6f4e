"""Writes `status.breakGlass` of an Environment on mgmt (the status subresource only: the
backend may not change an Environment's spec), with optimistic concurrency
(kube.ClusterObjects: a 409 starts again from a fresh read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from scipian_backend.config import GROUP, PLURAL, VERSION
from scipian_backend.errors import NotFound
from scipian_backend.kube import ClusterObjects, ObjectGone

ATTEMPTS = 5
# The Environment as read → its new status.breakGlass (it may raise to refuse).
Transition = Callable[[dict[str, Any]], list[dict[str, Any]]]


class EnvironmentStatus:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._objects = ClusterObjects(
            mgmt, GROUP, VERSION, PLURAL, timeout, attempts=ATTEMPTS, noun="environment"
        )

    def read(self, env_id: str) -> dict[str, Any] | None:
        return self._objects.get(env_id)

    def list(self) -> list[dict[str, Any]]:
        """Every Environment object (their status included), as read."""
        return self._objects.list()

    def update(self, env_id: str, transition: Transition) -> dict[str, Any]:
        """Writes transition(object) as status.breakGlass at the object's resourceVersion;
        retried from a fresh read on a conflict. Returns the object written."""

        def status(obj: dict[str, Any]) -> dict[str, Any]:
            found = obj.get("status")
            return dict(found if isinstance(found, dict) else {}, breakGlass=transition(obj))

        try:
            return self._objects.update_status(env_id, status)[1]
        except ObjectGone:
            raise NotFound(f"no environment {env_id}") from None

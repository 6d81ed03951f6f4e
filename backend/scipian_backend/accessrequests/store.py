"""AccessRequest objects on the management cluster, written with optimistic concurrency.

The reads and writes are promotions/store.py's, for another plural: a status change reads
the object, computes its new status (a pure transition of records.py, which may refuse)
and writes it with the resourceVersion it read; a 409 starts again from a fresh read, so
that an approval and a revoke arriving together never lose each other's change.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from scipian_backend.accessrequests.records import PLURAL
from scipian_backend.promotions.store import NameTaken, PromotionStore, Transition, Unchanged

__all__ = ["AccessRequestStore", "NameTaken", "Transition", "Unchanged"]


class AccessRequestStore:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._objects = PromotionStore(mgmt, timeout, plural=PLURAL, noun="access request")

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as created; NameTaken when its name exists."""
        return self._objects.create(obj)

    def get(self, name: str) -> dict[str, Any] | None:
        return self._objects.get(name)

    def list(self) -> list[dict[str, Any]]:
        """Every AccessRequest, oldest first."""
        return self._objects.list()

    def delete(self, name: str) -> None:
        """Deletes a request whose creation failed half way (its finalizer dropped first:
        nothing was granted under it)."""
        self._objects.delete(name)

    def wait_change(self, name: str, resource_version: str, seconds: float) -> None:
        """Returns at its first change after `resource_version`, or after `seconds`."""
        self._objects.wait_change(name, resource_version, seconds)

    def update_status(
        self, name: str, transition: Transition
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(before, after), retried from a fresh read on 409 (promotions/store.py)."""
        return self._objects.update_status(name, transition)

"""Promotion objects on the management cluster, written with optimistic concurrency
(kube.ClusterObjects, shared with AccessRequests and Environments' status).

A status change reads the object, computes the new status (a pure transition) and writes
it with the resourceVersion it read; a 409 (someone else wrote in between) starts again
from a fresh read, so that two requests on one promotion never lose each other's change.
"""

from __future__ import annotations

from kubernetes import client

from scipian_backend.kube import AlreadyExists, ClusterObjects, Transition, Unchanged
from scipian_backend.promotions.records import GROUP, PLURAL, VERSION

__all__ = ["ATTEMPTS", "NameTaken", "PromotionStore", "Transition", "Unchanged"]

ATTEMPTS = 10
NameTaken = AlreadyExists  # a Promotion of that name exists already


class PromotionStore(ClusterObjects):
    """Promotions; with `plural` and `noun`, any cluster-scoped scipian.io object written the
    same way (accessrequests/store.py uses it for AccessRequests)."""

    def __init__(
        self,
        mgmt: client.ApiClient,
        timeout: float = 10.0,
        plural: str = PLURAL,
        noun: str = "promotion",
    ) -> None:
        super().__init__(mgmt, GROUP, VERSION, plural, timeout, attempts=ATTEMPTS, noun=noun)

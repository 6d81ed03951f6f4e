"""AccessRequest objects on the management cluster, written with optimistic concurrency
(kube.ClusterObjects, shared with Promotions and Environments' status).

A status change reads the object, computes its new status (a pure transition of
records.py, which may refuse) and writes it with the resourceVersion it read; a 409 starts
again from a fresh read, so that an approval and a revoke arriving together never lose
each other's change. Lists take a label selector (records.py's labels): a user's own
requests, one environment's.
"""

from __future__ import annotations

from kubernetes import client

from scipian_backend.accessrequests.records import GROUP, PLURAL, VERSION
from scipian_backend.kube import AlreadyExists, ClusterObjects, Transition, Unchanged

__all__ = ["AccessRequestStore", "NameTaken", "Transition", "Unchanged"]

NameTaken = AlreadyExists  # an AccessRequest of that name exists already


class AccessRequestStore(ClusterObjects):
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        super().__init__(mgmt, GROUP, VERSION, PLURAL, timeout, noun="access request")

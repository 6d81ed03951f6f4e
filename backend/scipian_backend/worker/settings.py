"""The worker room's settings: `serve --replica-id`, `--no-worker`, `--worker-*` (change.md
§5's numbers as defaults; docs/backend.md)."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

from scipian_backend.errors import ConfigError

SELECTOR = re.compile(r"^[-A-Za-z0-9_./!=, ()]*$")  # the apiserver parses it; this bounds it
REPLICA_ID = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,126}[A-Za-z0-9])?$")
LEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def default_replica_id() -> str:
    """hostname-pid: a pod's name, unique per process on one host."""
    host = re.sub(r"[^-A-Za-z0-9_.]", "-", socket.gethostname())[:100].strip("-_.") or "replica"
    return f"{host}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    enabled: bool = True  # --no-worker: this process executes nothing
    replica: str = ""  # --replica-id; "" means default_replica_id()
    lease_seconds: int = 30  # an execution Lease's duration
    renew_seconds: float = 10.0  # renewed this often
    lost_after_seconds: float = 20.0  # not renewed for this long: the claim is lost
    threads: int = 4  # turns at once on this replica
    stop_seconds: float = 10.0  # at shutdown, how long running turns get to end
    resync_seconds: float = 300.0  # every object is looked at again this often
    selector: str = ""  # --worker-selector: a label selector, the objects this replica works
    # --worker-periodic-lease: the Lease whose holder runs the periodic tasks; replicas
    # naming another one run them beside those (a test's own backend, a separate fleet).
    periodic_lease: str = "scipian-worker"

    def __post_init__(self) -> None:
        if self.replica and not REPLICA_ID.fullmatch(self.replica):
            raise ConfigError(
                "--replica-id must be 1..128 letters, digits, '-', '_' or '.' "
                "(it is a Lease holderIdentity)"
            )
        if not 3 <= self.lease_seconds <= 3600:
            raise ConfigError("--worker-lease-seconds must be between 3 and 3600")
        if not 0 < self.renew_seconds < self.lost_after_seconds < self.lease_seconds:
            raise ConfigError(
                "need 0 < --worker-renew-seconds < --worker-lost-after-seconds "
                "< --worker-lease-seconds"
            )
        if not 1 <= self.threads <= 64:
            raise ConfigError("--worker-threads must be between 1 and 64")
        if not 0 <= self.stop_seconds <= 300:
            raise ConfigError("--worker-stop-seconds must be between 0 and 300")
        if not 1 <= self.resync_seconds <= 86400:
            raise ConfigError("--worker-resync-seconds must be between 1 and 86400")
        if not LEASE_NAME.fullmatch(self.periodic_lease):
            raise ConfigError("--worker-periodic-lease must be a DNS label")
        if len(self.selector) > 1024 or not SELECTOR.fullmatch(self.selector):
            raise ConfigError(
                "--worker-selector must be a label selector (e.g. 'shard=a' or '!shard')"
            )

    @property
    def replica_id(self) -> str:
        return self.replica or default_replica_id()

"""The worker room (change.md §5 "Execution"): claims work through execution Leases and runs
periodic tasks, one loop per replica (room.py)."""

from scipian_backend.worker.claims import Claim, WorkKind
from scipian_backend.worker.room import WorkerRoom

__all__ = ["Claim", "WorkKind", "WorkerRoom"]

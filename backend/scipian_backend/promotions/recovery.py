"""What a replica taking over a step finds on the target, and what it does (change.md §5).

A replica that died mid-helm (its helm died with it: PR_SET_PDEATHSIG) can leave the
release `pending-install`, `pending-upgrade` or `pending-rollback`, which blocks every
later helm run on it. The replica that takes the promotion over rolls such a release back
to its last `deployed` revision, or uninstalls it when it never had one, records that on
the step, and then runs the step again. Decisions here are pure; the executor runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

PENDING_STATES = ("pending-install", "pending-upgrade", "pending-rollback")


class Revision(Protocol):
    @property
    def revision(self) -> int: ...
    @property
    def status(self) -> str: ...


class Record(Revision, Protocol):
    @property
    def manifest(self) -> str: ...
    @property
    def hooks(self) -> list[str]: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def chart_name(self) -> str: ...
    @property
    def chart_version(self) -> str: ...


def same_release(a: Record, b: Record) -> bool:
    """Whether two revisions deploy the same thing (a rollback to one is the other)."""
    return (a.manifest, a.hooks, a.config, a.chart_name, a.chart_version) == (
        b.manifest,
        b.hooks,
        b.config,
        b.chart_name,
        b.chart_version,
    )


class Plan(NamedTuple):
    """ "rollback" to `revision`, "uninstall", or "none" (nothing pending)."""

    action: str
    revision: int | None = None
    found: str = ""  # the pending state found, e.g. "pending-upgrade (revision 3)"


R = TypeVar("R", bound=Revision)


def newest(records: Sequence[R]) -> R | None:
    return max(records, key=lambda r: r.revision, default=None)


def last_deployed(records: Sequence[Revision]) -> int | None:
    """The newest revision helm calls deployed (the one running before a pending change)."""
    deployed = [r.revision for r in records if r.status == "deployed"]
    return max(deployed, default=None)


def current_revision(records: Sequence[Revision]) -> int | None:
    """What a step records as its previousRevision: the deployed revision (None: there is
    no release, or none of its revisions ever deployed)."""
    return last_deployed(records)


def plan(records: Sequence[Revision]) -> Plan:
    top = newest(records)
    if top is None or top.status not in PENDING_STATES:
        return Plan("none")
    found = f"{top.status} (revision {top.revision})"
    deployed = last_deployed([r for r in records if r.revision != top.revision])
    if deployed is None:
        return Plan("uninstall", None, found)
    return Plan("rollback", deployed, found)


def describe(p: Plan, replica: str) -> str:
    """The step's `recovery` field: what was found and done, by which replica."""
    if p.action == "rollback":
        return f"{p.found} rolled back to revision {p.revision} by {replica}"
    if p.action == "uninstall":
        return f"{p.found} uninstalled by {replica} (no deployed revision)"
    return ""


def undo(records: Sequence[Record], previous: int | None) -> Plan:
    """How to put a release back where a failed or cancelled step found it: at revision
    `previous` (None: the step installed it, so uninstall). "none" when it is there already
    (helm's --rollback-on-failure did it, or nothing was installed)."""
    top = newest(records)
    if top is None:
        return Plan("none")
    if previous is None:
        return Plan("uninstall", None, f"{top.status} (revision {top.revision})")
    if top.revision == previous and top.status == "deployed":
        return Plan("none")
    before = next((r for r in records if r.revision == previous), None)
    if before is not None and top.status == "deployed" and same_release(top, before):
        return Plan("none")  # a rollback to it is already the deployed revision
    return Plan("rollback", previous, f"{top.status} (revision {top.revision})")

"""`helm list`'s choices after the latest revisions are known (pkg/action/list.go): the
filter, the state mask, the order, offset and max (pure)."""

from __future__ import annotations

import re
from typing import Any

from kubectl_scipian.helm.printers import last_deployed, status_of

# ListAll: every status but "unknown" (Helm's default when no state flag is given).
LISTED = frozenset(
    {
        "deployed",
        "uninstalled",
        "uninstalling",
        "pending-install",
        "pending-upgrade",
        "pending-rollback",
        "superseded",
        "failed",
    }
)


def choose(
    releases: list[dict[str, Any]],
    *,
    filter: str = "",
    by_date: bool = False,
    reverse: bool = False,
    limit: int = 256,
    offset: int = 0,
) -> list[dict[str, Any]]:
    pattern = re.compile(filter) if filter else None
    kept = [r for r in releases if pattern is None or pattern.search(str(r.get("name") or ""))]
    kept = [r for r in kept if status_of(r) in LISTED]
    kept = _sorted(kept, by_date=by_date, reverse=reverse)
    if offset >= len(kept):
        return []
    # Helm caps at min(max, every record matched), and there are never fewer records than
    # latest revisions: max alone decides; 0 or less means all.
    return kept[offset : offset + limit] if limit > 0 else kept[offset:]


def _sorted(rels: list[dict[str, Any]], *, by_date: bool, reverse: bool) -> list[dict[str, Any]]:
    if by_date:
        # SortByDate is ascending (by Unix seconds, then name) despite its flag's name
        # "ByDateDesc"; -r turns it around.
        def key(r: dict[str, Any]) -> tuple[int, str]:
            when = last_deployed(r)
            return (when.unix if when else _GO_ZERO_UNIX, str(r.get("name") or ""))

        return sorted(rels, key=key, reverse=reverse)
    return sorted(rels, key=lambda r: str(r.get("name") or ""), reverse=reverse)


_GO_ZERO_UNIX = -62135596800  # time.Time{}.Unix()

"""Reading several environments at once: each in its own thread, with its credentials from
the shared cache and its locks, then the read command into buffers (fanout/merge.py joins
them). A failure of one environment is kept as the line `cli` would print for it."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from kubectl_scipian.backend import issued
from kubectl_scipian.cli import error_text
from kubectl_scipian.errors import ClusterUnauthorized, ScipianError
from kubectl_scipian.fanout.merge import EnvResult

if TYPE_CHECKING:
    from kubectl_scipian.access.cache import CachedKubeconfig
    from kubectl_scipian.wiring import Wiring

MAX_PARALLEL = 8


def read_all(
    wired: Wiring,
    env_ids: list[str],
    verb: str,
    argv: list[str],
    *,
    tables: bool,
    interactive: bool,
) -> list[EnvResult]:
    """One EnvResult per environment, in the order given. `tables`: collect `get`'s tables
    as cells instead of printed text."""
    _warm_up()
    with ThreadPoolExecutor(min(len(env_ids), MAX_PARALLEL)) as pool:
        return list(pool.map(lambda e: _one(wired, e, verb, argv, tables, interactive), env_ids))


def _warm_up() -> None:
    # Imported here, once, before the threads: module imports are not the place to race.
    from kubectl_scipian import read
    from kubectl_scipian.read import loader, session

    read.VERBS  # noqa: B018 - the import is the point
    session.Session  # noqa: B018
    loader.kube_rest()


def _one(
    wired: Wiring, env_id: str, verb: str, argv: list[str], tables: bool, interactive: bool
) -> EnvResult:
    result = EnvResult(env_id)
    try:
        item = wired.credentials.kubeconfig(env_id, interactive=interactive)
        try:
            _read(wired, result, item, verb, argv, tables)
        except ClusterUnauthorized:
            # As for one environment: the cached token died early, fetch a new one once.
            wired.credentials.drop(item)
            item = wired.credentials.kubeconfig(env_id, interactive=interactive)
            _read(wired, _reset(result), item, verb, argv, tables)
    except ScipianError as err:
        result.error = error_text(err)
    return result


def _reset(result: EnvResult) -> EnvResult:
    result.stdout, result.stderr, result.tables, result.status = b"", "", [], 0
    return result


def _read(
    wired: Wiring,
    result: EnvResult,
    item: CachedKubeconfig,
    verb: str,
    argv: list[str],
    tables: bool,
) -> None:
    from kubectl_scipian import read

    out, err = io.BytesIO(), io.StringIO()
    result.status = read.run(
        verb,
        list(argv),
        issued.document(item.kubeconfig),
        env_id=result.env,
        cache_dir=wired.cache.read_cache_dir(result.env),
        stdout=out,
        stderr=err,
        table_sink=result.tables.append if tables else None,
    )
    result.stdout, result.stderr = out.getvalue(), err.getvalue()

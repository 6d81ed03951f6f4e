"""The read commands (`get`, `describe`, `logs`) at kubectl parity.

`run()` is the one entry point; each verb lives in its own module, imported
only when that verb runs (start-up time is measured against kubectl).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

VERBS = ("get", "describe", "logs")


def run(
    verb: str,
    argv: list[str],
    kubeconfig: Mapping[str, Any],
    *,
    env_id: str,
    cache_dir: Path,
    stdout: BinaryIO,
    stderr: TextIO,
    table_sink: Callable[[list[list[str]]], None] | None = None,
    watch_sink: Callable[[list[str] | None, list[list[str]]], None] | None = None,
    renew: Callable[[], Mapping[str, Any] | None] | None = None,
) -> int:
    """Runs `kubectl <verb> <argv>` against the cluster of `kubeconfig`; returns the exit code.

    `table_sink`: `get`'s tables (and custom-columns) go to it as cells, header first,
    instead of being printed (several environments print one table of their own).
    `watch_sink`: the same for `get --watch`, one flush at a time: (header or None, rows).
    `renew`: a new kubeconfig for the same environment, asked for at most once when a
    watch must start again after its credential died.

    Raises `kubectl_scipian.errors.ClusterUnauthorized` when the cluster answers 401
    before anything was printed (the caller may fetch fresh credentials and retry).
    """
    from kubectl_scipian.read.errors import ReadError, Unauthorized
    from kubectl_scipian.read.session import Session

    if verb not in VERBS:
        raise ValueError(f"not a read verb: {verb}")
    if "-h" in argv or "--help" in argv:
        from kubectl_scipian.read.help import text

        stdout.write(text(verb).encode())
        return 0
    session = Session(kubeconfig, cache_dir, stdout, stderr, table_sink, watch_sink, renew)
    try:
        if verb == "get":
            from kubectl_scipian.read.get import get

            return get(session, argv)
        if verb == "logs":
            from kubectl_scipian.read.logs import logs

            return int(logs(session, argv))
        from kubectl_scipian.read.describe import describe

        return int(describe(session, argv))
    except Unauthorized as e:
        if not session.written:
            from kubectl_scipian.errors import ClusterUnauthorized

            raise ClusterUnauthorized(env_id) from e
        session.error(e.message)
        return 1
    except ReadError as e:
        if e.message:
            session.error(e.message)
        return 1
    except BrokenPipeError:
        return 1
    finally:
        session.close()

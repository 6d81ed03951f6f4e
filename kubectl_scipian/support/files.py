"""The on-disk cache: JSON records, 0600 files in 0700 dirs, atomic writes, per-key locks.

Layout under ``<config dir>/cache`` (one directory per backend so logout is a directory
operation, not a scan):

    cache/                                   0700
      <sha256(backend)[:16]>/                0700
        backend.json                         the backend URL (for humans and `logout --all`)
        login.json, login.lock               id/refresh token of the current login
        kubeconfigs/                         0700
          <sha256(backend, user, env)>.json  one short-lived kubeconfig
          <same>.lock
        read/<env>/                          the read commands' own cache (no secrets)

A record that cannot be parsed is deleted with a warning: a cache is never worth a
traceback, and the next invocation simply fetches again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from kubectl_scipian.errors import CacheLockTimeout, CacheUnwritable

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_TIMEOUT = 60.0


def digest(*parts: str) -> str:
    """sha256 over the parts, NUL-separated so ("ab", "c") and ("a", "bc") differ."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def backend_dir(cache_dir: Path, backend_url: str) -> Path:
    return cache_dir / digest(backend_url)[:16]


def kubeconfig_key(backend_url: str, user: str, env_id: str) -> str:
    return digest(backend_url, user, env_id)


def ensure_dir(path: Path) -> Path:
    """Creates ``path`` and any missing parents 0700; tightens an existing leaf of ours.

    Each missing level is created here (not with ``parents=True``, which would give the
    parents the umask's mode).
    """
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a parallel invocation made it first
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    if (path.stat().st_mode & 0o777) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing the cache (read-only, full, not ours) as one clear line."""
    try:
        yield
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise CacheUnwritable(f"cannot write the cache in {path.parent}: {why}") from None


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never half of either."""
    with writing(path):
        _write_json(path, record)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    ensure_dir(path.parent)
    replace_atomically(path, json.dumps(record, indent=1, sort_keys=True))


def replace_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of either; the new one is 0600
    (mkstemp's mode). The directory must exist."""
    import tempfile  # only when writing: it costs the read path ~5 ms of imports (shutil, random)

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path, *, warn: TextIO | None = None) -> dict[str, Any] | None:
    """The record, or None when absent; a corrupt file is removed with a warning."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        discard(path, warn=warn)
        return None
    return record


def discard(path: Path, *, warn: TextIO | None = None) -> None:
    print(
        f"kubectl-scipian: warning: discarding unreadable cache file {path}",
        file=warn if warn is not None else sys.stderr,
    )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive flock on ``path``; waits up to ``timeout`` seconds.

    flock (not a lock *file* whose existence means "taken") so a crashed holder never
    leaves a stale lock behind: the kernel releases it with the process.
    """
    with writing(path):
        ensure_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise CacheLockTimeout(
                    f"another kubectl-scipian process has held {path} for {timeout:.0f}s; try again"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing releases the flock

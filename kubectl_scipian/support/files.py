"""Private files: 0700 directories, 0600 files written atomically, and the CA files that
TLS libraries want as paths.

The one writer of every file the plugin keeps (its cache, the read commands' discovery
cache, CA files, kubeconfigs it writes for other tools). Not used by tools/zipapp_main.py,
which runs before this package can be imported (it says why there).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
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


def write_private(path: Path, data: str | bytes, *, private_dir: bool = True) -> None:
    """Replaces ``path`` atomically with a 0600 file holding ``data``: readers see the old
    file or the new one, never half of either, even after a crash (fsync before rename).

    ``private_dir``: create the directory (0700) if needed, as for the plugin's own files;
    False for a place the user chose (``--output FILE``), whose directory must exist and
    keeps its mode. Raises OSError.
    """
    if private_dir:
        ensure_private_dir(path.parent)
    # Not tempfile.mkstemp: importing tempfile (shutil, random) costs a read command more
    # than the rest of a discovery-cache write.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ca_file(directory: Path, pem: bytes) -> str:
    """The path of a file holding ``pem`` under ``directory/ca`` (urllib3 and requests
    want a CA *file*). Content-addressed: written once, never half-written for a parallel
    reader, and two CAs never share a name."""
    path = directory / "ca" / f"{hashlib.sha256(pem).hexdigest()[:32]}.crt"
    if not path.exists():
        write_private(path, pem)
    return str(path)


def remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True

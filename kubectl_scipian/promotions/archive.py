"""The chart a promotion pins: archive bytes and their digest (the chart's identity is
`sha256:` of the archive, change.md §5), its name and version read from the archive's own
Chart.yaml. A directory is packaged by the user's `helm package`; a .tgz needs no helm.
The backend checks all of this again with its own helm; these checks only make a mistake
one clear line before anything is uploaded."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from kubectl_scipian.errors import ScipianError, UsageError

MAX_ARCHIVE = 1_000_000  # the upload route's own limit
MAX_UNPACKED = 10 * 1024 * 1024  # the backend's bound on the decompressed archive
MAX_CHART_YAML = 64 * 1024
PACKAGE_TIMEOUT = 120


class Archive(NamedTuple):
    name: str
    version: str
    digest: str  # "sha256:<hex>" of `data`
    data: bytes


class PackageError(ScipianError):
    """`helm package` failed on the directory: its own last line, exit 2."""

    exit_code = 2


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_archive(path: str) -> bool:
    return path.endswith((".tgz", ".tar.gz"))


def check_chart_path(chart: str) -> None:
    path = Path(chart)
    if path.is_dir():
        if not (path / "Chart.yaml").is_file():
            raise UsageError(f"--chart {chart}: a directory without Chart.yaml")
    elif not path.is_file():
        raise UsageError(f"--chart {chart}: no such chart directory or .tgz file")
    elif not is_archive(chart):
        raise UsageError(f"--chart {chart}: a chart directory or a .tgz file")


def chart_yaml_of(data: bytes, where: str) -> bytes:
    """The top-level Chart.yaml of a chart archive, decompressing at most MAX_UNPACKED."""
    try:
        unpacked = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_UNPACKED + 1)
    except (OSError, EOFError, ValueError):
        raise UsageError(f"--chart {where}: not a gzip archive") from None
    if len(unpacked) > MAX_UNPACKED:
        raise UsageError(f"--chart {where}: more than {MAX_UNPACKED} bytes decompressed")
    try:
        with tarfile.open(fileobj=io.BytesIO(unpacked), mode="r:") as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 2 and parts[1] == "Chart.yaml":
                    if member.size > MAX_CHART_YAML:
                        break
                    got = tar.extractfile(member)
                    return got.read() if got is not None else b""
    except tarfile.TarError:
        raise UsageError(f"--chart {where}: not a tar archive") from None
    raise UsageError(f"--chart {where}: no CHART/Chart.yaml in the archive")


def name_version_of(chart_yaml: bytes, where: str) -> tuple[str, str]:
    import yaml  # comes with the kubernetes client; only on this path

    try:
        meta = yaml.safe_load(chart_yaml.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        meta = None
    if not isinstance(meta, dict):
        raise UsageError(f"--chart {where}: its Chart.yaml is not a mapping")
    name, version = meta.get("name"), meta.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
        raise UsageError(f"--chart {where}: its Chart.yaml has no name or version")
    return name, version


def archive_of(data: bytes, where: str) -> Archive:
    """An archive's name, version and digest (pure)."""
    if len(data) > MAX_ARCHIVE:
        raise UsageError(f"--chart {where}: {len(data)} bytes; the backend takes {MAX_ARCHIVE}")
    name, version = name_version_of(chart_yaml_of(data, where), where)
    return Archive(name, version, digest_of(data), data)


def read_archive(path: str) -> Archive:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ARCHIVE + 1)
    except OSError as err:
        raise UsageError(f"--chart {path}: {err.strerror or 'unreadable'}") from None
    return archive_of(data, path)


def package(helm: str, directory: str, environ: Mapping[str, str]) -> Archive:
    """`helm package DIR` into a private temporary directory; its one .tgz, read."""
    with tempfile.TemporaryDirectory(prefix="scipian-chart-") as out:
        done = subprocess.run(
            [helm, "package", "--destination", out, "--", directory],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PACKAGE_TIMEOUT,
            check=False,
            env=dict(environ),
        )
        made = sorted(Path(out).glob("*.tgz"))
        if done.returncode != 0 or len(made) != 1:
            lines = [x.strip() for x in done.stderr.splitlines() if x.strip()]
            raise PackageError(f"helm package: {lines[-1] if lines else 'it made no archive'}")
        return read_archive(str(made[0]))

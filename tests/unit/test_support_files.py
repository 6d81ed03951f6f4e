"""The one writer of private files: atomic, 0600, in 0700 directories; CA files by content."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubectl_scipian.support.files import ca_file, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_failure_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "x"
    write_private(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_private(path, "new \ud800")  # fails after the temporary file was opened
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_a_directory_the_user_chose_keeps_its_mode(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chmod(theirs, 0o755)  # noqa: S103 (a directory of the user's, as it may be)
    write_private(theirs / "kubeconfig", b"doc", private_dir=False)
    assert (mode(theirs), mode(theirs / "kubeconfig")) == (0o755, 0o600)
    with pytest.raises(FileNotFoundError):  # and is never created
        write_private(tmp_path / "missing" / "f", "x", private_dir=False)


def test_ca_files_are_named_by_their_content(tmp_path: Path) -> None:
    one = ca_file(tmp_path, b"CA one")
    assert ca_file(tmp_path, b"CA one") == one
    two = ca_file(tmp_path, b"CA two")
    assert two != one and Path(two).read_bytes() == b"CA two"
    assert (mode(Path(one)), mode(Path(one).parent)) == (0o600, 0o700)

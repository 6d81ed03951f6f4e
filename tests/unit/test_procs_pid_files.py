"""The stack's pid files are written whole (tests/stack/procs.py): a thread that reads them
while another records a process never sees half a file, so it never deletes one as garbage
(which once lost a replica's pid, and `scripts/stack down` then left it running)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.stack import procs


def test_a_pid_file_being_written_is_never_taken_for_garbage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_DIR", str(tmp_path))
    procs.pid_dir().mkdir(parents=True)
    done = threading.Event()

    def record() -> None:
        for i in range(3000):
            procs._record(f"p{i}", os.getpid())
        done.set()

    writer = threading.Thread(target=record)
    writer.start()
    while not done.is_set():
        procs.tracked()  # deletes any *.pid it cannot read as a pid
    writer.join()
    names = set(procs.tracked())
    lost = [i for i in range(3000) if f"p{i}" not in names]
    assert lost == []
    assert sorted(p.name for p in procs.pid_dir().iterdir() if not p.name.endswith(".pid")) == []

"""What a command receives from the outside world: streams, variables, terminal, clock.

Passed in (not read from globals) so tests run the CLI in-process against a temp config dir.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, TextIO


class Context:
    # A plain class, like every value type on the plugin's start-up path: importing
    # dataclasses (and inspect with it) and building one costs a read command ~10 ms.
    __slots__ = ("clock", "environ", "interactive", "stderr", "stdout")

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        environ: Mapping[str, str],
        interactive: bool,  # stdin is a terminal: a login may be started on the user's behalf
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ
        self.interactive = interactive
        self.clock = clock

    @property
    def stdout_bytes(self) -> BinaryIO:
        """The read commands write bytes (kubectl's output is not always valid text)."""
        buffer = getattr(self.stdout, "buffer", None)
        if buffer is None:
            raise TypeError("stdout has no binary buffer")
        self.stdout.flush()
        return buffer  # type: ignore[no-any-return]

    @classmethod
    def from_process(cls) -> Context:
        try:
            interactive = sys.stdin is not None and os.isatty(sys.stdin.fileno())
        except (OSError, ValueError):
            interactive = False
        return cls(sys.stdout, sys.stderr, os.environ, interactive)

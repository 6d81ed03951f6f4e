"""`python -m tests.stack.logtee FILE...`: copies its stdin, line by line, to every FILE.

A stack replica's output goes through one of these into its own log (`backend-0.log`) and
the merged one (`backend.log`). Each line is one append (O_APPEND) to each file, so the two
replicas' lines never interleave inside a line. It ignores SIGTERM and SIGINT and ends at
end of input, when the process it logs for has exited: nothing that process wrote last is
lost.
"""

from __future__ import annotations

import os
import signal
import sys


def main(paths: list[str]) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) for p in paths]
    for line in sys.stdin.buffer:
        for fd in fds:
            os.write(fd, line)
    for fd in fds:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Entry point of the `kubectl-scipian` executable.

Kept tiny on purpose: start-up time is the first thing a user feels, so the
command line module is imported only here and heavy modules only by the
commands that need them.
"""

import contextlib
import gc
import os
import sys


def main() -> None:
    # Start-up allocates ~100k long-lived objects (modules, classes, functions): at the
    # default threshold (700) the collector walks them dozens of times, ~4 ms of a read.
    # Raised, not disabled: `logs -f` and `get --watch` run for hours.
    gc.set_threshold(10_000, 10, 10)
    # Everything this process creates holds or sits beside credentials: private by
    # default, whichever module creates it.
    os.umask(0o077)
    from kubectl_scipian.cli import run

    leave(run(sys.argv[1:]))


def leave(status: int) -> None:
    """Exit without the interpreter's teardown (freeing ~400 modules one by one, ~10 ms of
    a read command) once there is nothing left to do: output flushed, no other thread.
    Files the commands write are closed by then (cache writes are atomic renames)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` closed the pipe: as cli.run reports it
        status = status or 141
        # Python's own exit would try again and print "Exception ignored ...".
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or no stdout at all
        status = status or 1
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() == 1:
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    main()

"""Entry point of the `kubectl-scipian` executable.

Kept tiny on purpose: start-up time is the first thing a user feels, so the
command line module is imported only here and heavy modules only by the
commands that need them.
"""

import os
import sys


def main() -> None:
    # Everything this process creates holds or sits beside credentials: private by
    # default, whichever module creates it.
    os.umask(0o077)
    from kubectl_scipian.cli import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

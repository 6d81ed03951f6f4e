"""`scripts/stack login USER`: logs USER into the plugin's cache.

Completing the login needs the plugin's login command (the plugin issue);
until it exists this says so instead of pretending.
"""

from __future__ import annotations

import sys


def login_cli(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/stack login USER", file=sys.stderr)
        return 2
    print(
        "stack: login needs the plugin's login command, which does not exist yet", file=sys.stderr
    )
    return 1

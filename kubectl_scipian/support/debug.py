"""`-v` debug lines without importing `logging` on every run.

A read with a cached kubeconfig logs nothing unless `-v` is given, and importing logging
(with traceback, weakref, string and threading) costs it a few per cent of its start-up
(bench: get_warm). `cli` imports and configures logging only for `-v`; until something
has imported logging, a debug line has no handler to reach and is dropped here without
it. Once logging is imported (by `-v`, or a library on another path), lines go to the
`logging` logger of the same name, exactly as `logging.getLogger(name).debug` would.
"""

from __future__ import annotations

import sys


class Logger:
    """The part of logging.Logger the plugin's modules use: debug lines."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: object) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger(self.name).debug(msg, *args)


def logger(name: str) -> Logger:
    return Logger(name)

"""Stand-ins for modules that the libraries on the plugin's start-up path import but a
plugin run never uses, each installed only while those libraries load.

Why: every run of the plugin pays for its imports, and these are pure cost:
- `urllib3.connection` imports the `urllib3.http2` package for its `probe` submodule, and
  that package's `__init__` imports importlib.metadata (zipfile, shutil, tempfile, csv,
  email) to check an h2 version for `inject_into_urllib3`, which nothing here calls;
- `kubernetes.client.configuration` imports multiprocessing (and pickle with it) for
  `cpu_count()` alone.
What loaded keeps what it was given (the real `probe` module; a stub with `cpu_count`); a
later import gets the real modules. A library release without the expected layout fails
its import under the stand-ins; the callers then import normally (`preload` here,
read/loader.py), say so under `-v`, and tests/unit/test_perf_loader.py fails so that the
next upgrade re-checks this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import types
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stand_ins(*, multiprocessing: bool = False) -> Iterator[None]:
    """urllib3 without its http2 package (if urllib3 is not imported yet), and with
    `multiprocessing=True` a multiprocessing that has only cpu_count."""
    placed: dict[str, types.ModuleType] = {}
    if multiprocessing and "multiprocessing" not in sys.modules:
        stub = types.ModuleType("multiprocessing")
        stub.cpu_count = lambda: os.cpu_count() or 1  # type: ignore[attr-defined]
        placed["multiprocessing"] = stub
    if "urllib3" not in sys.modules:
        import importlib.util

        spec = importlib.util.find_spec("urllib3")  # finds, does not import
        locations = list(spec.submodule_search_locations or []) if spec else []
        if locations:  # a directory, or a path inside the zipapp
            package = types.ModuleType("urllib3.http2")
            package.__path__ = [os.path.join(locations[0], "http2")]
            placed["urllib3.http2"] = package
    sys.modules.update(placed)
    try:
        yield
    finally:
        for name, module in placed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def preload(*modules: str) -> None:
    """Imports `modules` under the stand-ins, so that the caller's own import statements
    find them loaded. On a failure (a library layout this does not know) nothing of it is
    kept and the caller's import statements import normally, or raise the real error."""
    import importlib

    try:
        with stand_ins():
            for name in modules:
                importlib.import_module(name)
    except Exception as err:  # whatever an unknown layout raises: the normal import decides
        log.debug(
            "import stand-ins unavailable for %s (%s); using the standard imports",
            ", ".join(modules),
            reason_of(err),
        )


def reason_of(err: BaseException) -> str:
    """A loader failure in a few words for the debug line (an import error names modules
    and files, never a credential)."""
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= 160 else text[:157] + "..."

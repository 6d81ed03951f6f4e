"""support/lean.py: the backend client's urllib3 loads without its http2 package's
importlib.metadata, and a urllib3 laid out otherwise falls back to the normal import,
saying so under `-v`.

If a urllib3 release changes what `urllib3.connection` imports, these tests fail:
re-check `lean.stand_ins` before widening the pin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.stack.paths import ROOT

PROBE = """
import json, sys
from kubectl_scipian.support import lean
lean.preload("kubectl_scipian.backend.client")
loaded = sorted(m for m in ("importlib.metadata", "urllib3.http2") if m in sys.modules)
import urllib3.http2  # the real package afterwards
print(json.dumps({
    "lean": loaded,
    "probe": "urllib3.http2.probe" in sys.modules,
    "real": hasattr(urllib3.http2, "inject_into_urllib3"),
}))
"""


def test_preload_leaves_the_unused_parts_out() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "lean": [],  # not imported for the load, and no stand-in left behind
        "probe": True,  # urllib3.connection got the real probe module
        "real": True,  # a later import gets the whole package
    }


def test_preload_falls_back_when_the_layout_is_unknown(tmp_path: Path) -> None:
    """A urllib3 whose http2 package has no `probe` submodule (a future release): the
    import under the stand-in fails, nothing of it stays, the normal import works."""
    pkg = tmp_path / "urllib3"
    (pkg / "http2").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .http2 import probe\n")
    (pkg / "http2" / "__init__.py").write_text("probe = 'from the package'\n")
    (tmp_path / "uses_urllib3.py").write_text("import urllib3\n")
    probe = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, format='%(message)s')\n"
        "from kubectl_scipian.support import lean\n"
        "lean.preload('uses_urllib3')\n"
        "left = sorted(m for m in sys.modules if m.split('.')[0] in ('urllib3', 'uses_urllib3'))\n"
        "import uses_urllib3, urllib3\n"
        "print(left, urllib3.probe)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[] from the package\n"
    assert "import stand-ins unavailable for uses_urllib3 (ImportError: " in done.stderr
    assert done.stderr.rstrip().endswith("; using the standard imports")

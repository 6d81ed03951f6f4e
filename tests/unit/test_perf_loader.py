"""The kubernetes REST layer loaded without the package's eager imports (read/client.py).

If a kubernetes release changes what `client.configuration`, `client.rest` or
`client.exceptions` import, these tests fail: re-check `load_fast` and TESTED_MAJORS
before widening the pin in setup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kubectl_scipian.read.client import TESTED_MAJORS, supported_release
from tests.stack.paths import ROOT

PROBE = """
import json, sys
from kubectl_scipian.read import client

class Recorder:  # sees every module import that is not cached yet
    names = []
    def find_spec(self, name, path=None, target=None):
        self.names.append(name)
        return None

sys.meta_path.insert(0, Recorder())
loaded = client.load_fast()
sys.meta_path.pop(0)
kube_imported = sorted(n for n in Recorder.names if n.split(".")[0] in ("kubernetes", "requests"))
after_load = sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "requests"))
lean = sorted(m for m in ("multiprocessing", "importlib.metadata", "urllib3.http2")
              if m in sys.modules)
conf = loaded.configuration.Configuration(host="https://127.0.0.1:1")
import os
pool_size = conf.connection_pool_maxsize == (os.cpu_count() or 1) * 5
rest = loaded.rest.RESTClientObject(conf)
import urllib3.http2, multiprocessing  # the real modules afterwards
real_lean = hasattr(urllib3.http2, "inject_into_urllib3") and hasattr(multiprocessing, "Pool")
import kubernetes  # the real package afterwards, complete
real_api = hasattr(kubernetes.client, "CoreV1Api")
real_api = real_api and hasattr(kubernetes.config, "load_kube_config")
print(json.dumps({
    "fast": loaded.fast,
    "imported": kube_imported,
    "after_load": after_load,
    "lean": lean,
    "pool_size": pool_size,
    "real_lean": real_lean,
    "pool": type(rest.pool_manager).__name__,
    "real_api": real_api,
    "distinct": loaded.rest is not sys.modules["kubernetes.client.rest"],
}))
"""


def test_loads_fast_and_leaves_no_placeholders() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc == {
        "fast": True,  # the layout is still what load_fast expects
        "imported": [  # these and nothing else of the package (no models, no config)
            "kubernetes",  # looked up by find_spec for its directory, not executed
            "kubernetes.client.configuration",
            "kubernetes.client.exceptions",
            "kubernetes.client.rest",
        ],
        "after_load": [],  # nothing left under the real names
        "lean": [],  # not imported for the load, and no stub left behind
        "pool_size": True,  # configuration's cpu_count() came from the stub
        "real_lean": True,
        "pool": "PoolManager",
        "real_api": True,  # a later `import kubernetes` is the whole package
        "distinct": True,
    }


def test_installed_release_is_a_tested_one() -> None:
    from importlib.metadata import version

    assert int(version("kubernetes").split(".")[0]) in TESTED_MAJORS


def test_release_check() -> None:
    assert supported_release('__project__ = "kubernetes"\n__version__ = "36.0.3"\n')
    assert not supported_release('__version__ = "37.0.2"\n')
    assert not supported_release("nothing here\n")


def test_shares_an_already_imported_package() -> None:
    probe = (
        "import kubernetes, json\n"
        "from kubectl_scipian.read import client\n"
        "print(json.dumps([client.load_fast() is None, client.kube_rest().fast]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, False]


def test_preload_falls_back_when_the_layout_is_unknown(tmp_path: Path) -> None:
    """A urllib3 whose http2 package has no `probe` submodule (a future release): the
    import under the stand-in fails, nothing of it stays, the normal import works."""
    pkg = tmp_path / "urllib3"
    (pkg / "http2").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .http2 import probe\n")
    (pkg / "http2" / "__init__.py").write_text("probe = 'from the package'\n")
    (tmp_path / "uses_urllib3.py").write_text("import urllib3\n")
    probe = (
        "import sys\n"
        "from kubectl_scipian import lean\n"
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

"""The kubernetes REST layer loaded without the package's eager imports (read/loader.py),
and every way back to the normal import, each announced under `-v`.

If a kubernetes release changes what `client.configuration`, `client.rest` or
`client.exceptions` import, these tests fail: re-check `load_fast` and TESTED_MAJORS
before widening the pin in setup.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_scipian.read.loader import TESTED_MAJORS, supported_release
from tests.stack.paths import ROOT

PROBE = """
import json, sys
from kubectl_scipian.read import loader

class Recorder:  # sees every module import that is not cached yet
    names = []
    def find_spec(self, name, path=None, target=None):
        self.names.append(name)
        return None

sys.meta_path.insert(0, Recorder())
loaded = loader.load_fast()
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
        "from kubectl_scipian.read import loader\n"
        "print(json.dumps([loader.load_fast() is None, loader.kube_rest().fast]))\n"
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


# -- the fallbacks, each forced --------------------------------------------------------------

FALLBACK = "fast client loader unavailable ({}); using the standard kubernetes import"


def incompatible_kubernetes(into: Path) -> Path:
    """A directory for PYTHONPATH holding a `kubernetes` package that the normal import loads
    as ever, but whose client/rest.py needs the package's `__init__` to have run (as a
    future release might): the fast loader cannot load it. The installed package's files
    are symlinked, not copied; only rest.py is a file of its own."""
    spec = importlib.util.find_spec("kubernetes")
    assert spec is not None and spec.submodule_search_locations
    real = Path(next(iter(spec.submodule_search_locations)))
    shim = into / "kubernetes"
    shutil.copytree(
        real, shim, copy_function=os.symlink, ignore=shutil.ignore_patterns("__pycache__")
    )
    rest = shim / "client" / "rest.py"
    rest.unlink()
    rest.write_text(
        (real / "client" / "rest.py").read_text()
        + "\nPACKAGE_VERSION = __import__('kubernetes').__version__  # needs the __init__\n"
    )
    return into


def run_probe(probe: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`probe` in a fresh interpreter with the plugin's debug log on stderr."""
    head = (
        "import json, logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, format='%(message)s')\n"
        "from kubectl_scipian.read import loader\n"
    )
    paths = [str(pythonpath)] if pythonpath else []
    done = subprocess.run(
        [sys.executable, "-c", head + probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([*paths, str(ROOT)])},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_an_incompatible_layout_falls_back_and_says_so(tmp_path: Path) -> None:
    done = run_probe(
        "rest = loader.kube_rest()\n"
        "print(json.dumps([rest.fast, rest.rest.PACKAGE_VERSION,"
        " rest.rest is sys.modules['kubernetes.client.rest']]))\n",
        incompatible_kubernetes(tmp_path),
    )
    assert json.loads(done.stdout) == [False, "36.0.3", True]  # the normal import's modules
    why = "AttributeError: module 'kubernetes' has no attribute '__version__'"
    assert done.stderr == FALLBACK.format(why) + "\n"


def test_an_untested_release_falls_back_and_says_so() -> None:
    done = run_probe("loader.TESTED_MAJORS = (0,)\nprint(json.dumps(loader.kube_rest().fast))\n")
    assert json.loads(done.stdout) is False
    assert done.stderr == FALLBACK.format("kubernetes is not a tested release (0,)") + "\n"


def test_a_rest_client_that_cannot_be_built_falls_back_and_says_so(tmp_path: Path) -> None:
    """The fast-loaded modules import, but fail when first used: the normal import serves."""
    done = run_probe(
        "from pathlib import Path\n"
        "from kubectl_scipian.read.target import Target\n"
        "from kubectl_scipian.read.transport import Client\n"
        "assert loader.kube_rest().fast\n"
        "def changed(*args, **kwargs):\n"
        "    raise TypeError('an argument this release does not take')\n"
        "loader.kube_rest().rest.RESTClientObject = changed\n"
        "target = Target('https://127.0.0.1:1', 'default', None, None, False, None)\n"
        f"client = Client(target, Path({str(tmp_path)!r}))\n"
        "print(json.dumps([loader.kube_rest().fast, type(client._rest).__module__]))\n"
    )
    assert json.loads(done.stdout) == [False, "kubernetes.client.rest"]
    why = "building its REST client: TypeError: an argument this release does not take"
    assert done.stderr == FALLBACK.format(why) + "\n"


def test_a_run_time_failure_is_not_reported_as_a_connection_error(tmp_path: Path) -> None:
    from kubectl_scipian.read.errors import TransportError
    from kubectl_scipian.read.target import Target
    from kubectl_scipian.read.transport import Client

    client = Client(Target("https://127.0.0.1:1", "default", None, None, False, None), tmp_path)
    with pytest.raises(TransportError, match=r"^The connection to the server 127.0.0.1:1 was"):
        client.get("/api")  # a transport failure: kubectl's words

    def changed(*args: object, **kwargs: object) -> None:
        raise AttributeError("'RESTClientObject' object has no attribute 'pool_manager'")

    client._rest.request = changed
    with pytest.raises(AttributeError, match="pool_manager"):  # as what it is, not a
        client.get("/api")  # connection error (cli reports it as an internal error)

"""The `kubernetes` client's REST layer, loaded without the package's eager imports when
that is known to be safe, else by the normal import, saying so under `-v`.

Why: `import kubernetes` (or `kubernetes.client`) imports config, dynamic, watch, stream
and every generated API and model, most of a `get`'s start-up (make bench measures it).
What we use of it is `client.configuration`, `client.rest` and `client.exceptions`, which
only need urllib3, six and `requests.utils.should_bypass_proxies`. So, for the kubernetes
releases this was checked against (TESTED_MAJORS; the pin in setup.py), those three modules
are loaded under placeholder parent packages, which are removed again afterwards: a later
`import kubernetes` anywhere gets the real package. ANY failure of that (another release, a
changed layout, an error while importing or first using the modules) falls back to the
normal import, with a debug line naming the reason; tests/unit/test_perf_loader.py fails
loudly so that the next upgrade re-checks this.
"""

from __future__ import annotations

import logging
import re
import sys
import types
from pathlib import Path
from typing import NamedTuple

from kubectl_scipian.support.lean import reason_of, stand_ins

log = logging.getLogger(__name__)

TESTED_MAJORS = (36,)
_VERSION = re.compile(r"""^__version__\s*=\s*["'](\d+)\.""", re.M)


class KubeRest(NamedTuple):
    configuration: types.ModuleType  # kubernetes.client.configuration
    rest: types.ModuleType  # kubernetes.client.rest
    exceptions: types.ModuleType  # kubernetes.client.exceptions
    fast: bool  # loaded without the package __init__ modules


_kube_rest: KubeRest | None = None


def kube_rest() -> KubeRest:
    """The REST layer of this process: the fast one if it loads, else the normal import."""
    global _kube_rest
    if _kube_rest is None:
        loaded = _try_fast()
        _kube_rest = loaded if isinstance(loaded, KubeRest) else fall_back(loaded)
    return _kube_rest


def fall_back(reason: str) -> KubeRest:
    """The normal import from now on, because the fast loader could not serve: `reason`."""
    global _kube_rest
    log.debug("fast client loader unavailable (%s); using the standard kubernetes import", reason)
    _kube_rest = _load_normal()
    return _kube_rest


def _load_normal() -> KubeRest:
    from kubernetes.client import configuration, exceptions, rest

    return KubeRest(configuration, rest, exceptions, fast=False)


def supported_release(init_source: str) -> bool:
    """True when kubernetes/__init__.py names a release whose layout load_fast knows."""
    m = _VERSION.search(init_source)
    return m is not None and int(m.group(1)) in TESTED_MAJORS


def load_fast() -> KubeRest | None:
    """The three modules without `kubernetes/__init__`; None when that is not possible."""
    loaded = _try_fast()
    return loaded if isinstance(loaded, KubeRest) else None


def _should_bypass_proxies(url: str, no_proxy: str | None) -> bool:
    # rest.py imports this from requests only to use it when a proxy is configured:
    # import requests then, not on every run.
    from requests.utils import should_bypass_proxies

    return bool(should_bypass_proxies(url, no_proxy=no_proxy))


def _try_fast() -> KubeRest | str:
    """The fast-loaded modules, or why not (a short reason, for the debug line)."""
    if any(n == "kubernetes" or n.startswith("kubernetes.") for n in sys.modules):
        return "kubernetes is imported already"  # share it
    try:
        source, root = _package_source()
    except Exception as err:  # whatever an unknown layout raises: the normal import decides
        return reason_of(err)
    if source is None:
        return "the kubernetes package's source is not found"
    if not supported_release(source):
        return f"kubernetes is not a tested release {TESTED_MAJORS}"
    return _load_under_placeholders(root)


def _package_source() -> tuple[str | None, Path]:
    import importlib.util

    spec = importlib.util.find_spec("kubernetes")  # finds, does not import
    if spec is None or not spec.submodule_search_locations or spec.loader is None:
        return None, Path()
    root = Path(next(iter(spec.submodule_search_locations)))
    # get_source rather than a file read: the same in a zipapp (make dist)
    return spec.loader.get_source(spec.name), root  # type: ignore[attr-defined]


def _load_under_placeholders(root: Path) -> KubeRest | str:
    import importlib

    placeholders: dict[str, types.ModuleType] = {}

    def package(name: str, path: Path | None) -> None:
        module = types.ModuleType(name)
        module.__path__ = [str(path)] if path else []
        placeholders[name] = module

    package("kubernetes", root)
    package("kubernetes.client", root / "client")
    if "requests" not in sys.modules:
        package("requests", None)
        utils = types.ModuleType("requests.utils")
        utils.should_bypass_proxies = _should_bypass_proxies  # type: ignore[attr-defined]
        placeholders["requests.utils"] = utils
    sys.modules.update(placeholders)
    try:
        with stand_ins(multiprocessing=True):  # see kubectl_scipian/support/lean.py
            loaded = KubeRest(
                configuration=importlib.import_module("kubernetes.client.configuration"),
                rest=importlib.import_module("kubernetes.client.rest"),
                exceptions=importlib.import_module("kubernetes.client.exceptions"),
                fast=True,
            )
        loaded.rest.RESTClientObject  # noqa: B018 (the names we use are there)
        loaded.configuration.Configuration  # noqa: B018
        loaded.exceptions.ApiException  # noqa: B018
    except Exception as err:  # whatever an unknown layout raises: the normal import decides
        return reason_of(err)
    finally:
        # Private copies: nothing of this stays importable under the real names.
        for name in [n for n in sys.modules if n.split(".")[0] in ("kubernetes", "requests")]:
            if name in placeholders or name.startswith("kubernetes."):
                del sys.modules[name]
    return loaded

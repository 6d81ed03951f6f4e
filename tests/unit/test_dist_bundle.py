"""The zipapp's dependency set (tools/bundle.py): pure, closed, and aiohttp provably unused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack.paths import ROOT
from tools import bundle

# Imports every module of the plugin, then the whole kubernetes client (what the read
# path falls back to), recording any attempt to find an excluded module, even one
# guarded by try/except ImportError.
PROBE = """
import importlib, json, pkgutil, sys
excluded = set(json.loads(sys.argv[1]))
attempts = []

class Tripwire:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in excluded:
            attempts.append(name)
            raise ImportError(name)
        return None

sys.meta_path.insert(0, Tripwire())
import kubectl_scipian
for info in pkgutil.walk_packages(kubectl_scipian.__path__, "kubectl_scipian."):
    importlib.import_module(info.name)
import kubernetes, kubernetes.client, kubernetes.config, kubernetes.stream, kubernetes.watch
from kubectl_scipian.read import loader
loader.kube_rest()
print(json.dumps(attempts))
"""


def test_no_plugin_module_imports_an_excluded_distribution() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(bundle.EXCLUDED_MODULES)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_pins_follow_constraints_or_say_why() -> None:
    constraints = bundle.parse_constraints((ROOT / "constraints.txt").read_text())
    assert bundle.check_pins_against_constraints(constraints) == []
    for name in bundle.DOWNGRADED:
        assert constraints[name] != bundle.PINS[name]


@pytest.mark.parametrize(
    ("filename", "pure"),
    [
        ("kubernetes-36.0.3-py2.py3-none-any.whl", True),
        ("pyyaml-6.0.3-py3-none-any.whl", True),
        ("PyYAML-6.0.3-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("charset_normalizer-3.5.2-cp311-cp311-musllinux_1_2_x86_64.whl", False),
        ("six-1.17.0-py2-none-any.whl", False),
    ],
)
def test_wheel_name_purity(filename: str, pure: bool) -> None:
    assert (bundle.check_wheel_name(filename) is None) == pure


def test_requirements_closure() -> None:
    ok = bundle.check_requirements(
        {
            "kubernetes 36.0.3": ["pyyaml>=6.0.3", "aiohttp<4,>=3.13.5"],
            "x 1": ['tomli; python_version < "3.10"', 'tzdata; sys_platform == "win32"'],
        },
        {"kubernetes 36.0.3": ">=3.10"},
    )
    assert ok == []
    bad = bundle.check_requirements(
        {"y 1": ["missing-dist", "six>=2", 'exceptiongroup; python_version < "3.11"']},
        {"y 1": ">=3.11"},
    )
    assert [str(p) for p in bad] == [
        "y 1: Requires-Python >=3.11 excludes one of ('3.10', '3.11', '3.12', '3.13', '3.14')",
        "y 1 requires 'missing-dist', which the bundle lacks",
        "y 1 requires 'six>=2'; bundle has 1.17.0",
        "y 1 requires 'exceptiongroup; python_version < \"3.11\"', which the bundle lacks",
    ]


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("kubernetes/aio/client/rest.py", True),
        ("kubernetes/config/kube_config_test.py", True),
        ("kubernetes/client/api_client.py", False),
        ("yaml/__init__.py", False),
        ("kubectl_scipian/__pycache__/cli.cpython-311.pyc", True),
    ],
)
def test_excluded_paths(path: str, excluded: bool) -> None:
    assert bundle.excluded_path(path) == excluded

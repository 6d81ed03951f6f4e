"""What goes into the zipapp: pinned pure-Python wheels that run on every supported Python.

A zip can carry only pure Python (a native extension cannot be imported from inside it),
and krew picks an archive by os/arch only, never by Python version. So every wheel here is
`py3-none-any` and admits Python 3.10 (the plugin's floor) through the newest release.

Versions are constraints.txt's pins for Python 3.10, the floor (constraints.txt pins some
packages per Python version, with environment markers). Exceptions, each with its reason:

- DOWNGRADED: a pin older than constraints.txt's, with the reason (none at present).
- FROM_SDIST: no pure wheel is published; the sdist builds one without its optional
  C accelerator (PyYAML falls back to its pure-Python parser and emitter; `yaml.CLoader`
  is then absent, and nothing of ours or of the kubernetes client's read path needs it).
- EXCLUDED: required by a bundled wheel's metadata but imported by none of our code
  paths. The kubernetes client requires aiohttp only for `kubernetes.aio`, its asyncio
  client, which the bundle leaves out (EXCLUDED_PATHS). tests/unit/test_dist_bundle.py
  proves that nothing the plugin imports pulls aiohttp in; the krew e2e test runs the
  bundle, which has no aiohttp at all, against the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PYTHON_FLOOR = (3, 10)
# Every CPython the archive must run on: the floor up to the newest release.
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
PLATFORMS = ("linux", "darwin", "win32")

# name (normalized) -> version
PINS: dict[str, str] = {
    "kubernetes": "36.0.3",
    "requests": "2.34.2",
    "platformdirs": "4.12.4",
    "urllib3": "2.8.0",
    "certifi": "2026.10.18",
    "charset-normalizer": "3.5.2",
    "idna": "3.20",
    "oauthlib": "4.0.1",
    "requests-oauthlib": "2.0.0",
    "six": "1.17.0",
    "python-dateutil": "3.0.0",
    "tzdata": "2026.6",
    "durationpy": "0.11",
    "websocket-client": "1.9.2",
    "pyyaml": "6.0.3",
}

DOWNGRADED: dict[str, str] = {}

# name -> environment for `pip wheel --no-binary NAME` that builds a pure wheel
FROM_SDIST: dict[str, dict[str, str]] = {
    "pyyaml": {"PYYAML_FORCE_LIBYAML": "0"},
}

EXCLUDED: dict[str, str] = {
    "aiohttp": "imported only by kubernetes.aio (the asyncio client), which is not bundled",
}
# Top-level modules that only an EXCLUDED distribution brings (the unit test forbids them).
EXCLUDED_MODULES = (
    "aiohttp",
    "aiohappyeyeballs",
    "aiosignal",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
)

# Paths left out of the zip: dead code that imports EXCLUDED distributions, and tests.
EXCLUDED_PATHS = (
    re.compile(r"^kubernetes/aio/"),
    re.compile(r"(^|/)[^/]+_test\.py$"),
    re.compile(r"(^|/)tests?/"),
    re.compile(r"(^|/)__pycache__/"),
    re.compile(r"\.pyc$"),
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def excluded_path(name: str) -> bool:
    return any(p.search(name) for p in EXCLUDED_PATHS)


@dataclass(frozen=True)
class Problem:
    what: str

    def __str__(self) -> str:
        return self.what


def check_pins_against_constraints(constraints: Mapping[str, str]) -> list[Problem]:
    """Every pin equals constraints.txt's, or is a documented downgrade / extra."""
    problems = []
    for name, version in PINS.items():
        pinned = constraints.get(name)
        if pinned is None:
            problems.append(Problem(f"{name}: not in constraints.txt"))
        elif pinned != version and name not in DOWNGRADED:
            problems.append(Problem(f"{name}: bundle has {version}, constraints.txt {pinned}"))
    return problems


def parse_constraints(text: str) -> dict[str, str]:
    """name -> version; where constraints.txt pins per Python version (environment
    markers), the pin for the floor's Python (3.10) wins: the zip must run there."""
    out: dict[str, str] = {}
    floor: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" not in line:
            continue
        requirement, _, marker = line.partition(";")
        name, version = requirement.split("==", 1)
        key = normalize(name)
        if 'python_version < "3.11"' in marker:
            floor[key] = version.strip()
        elif key not in out:
            out[key] = version.strip()
    return {**out, **floor}


def check_wheel_name(filename: str) -> Problem | None:
    """A wheel the zip can carry: tagged for any platform and ABI, Python 3."""
    match = re.fullmatch(r"(.+?)-([^-]+)(-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl", filename)
    if not match:
        return Problem(f"{filename}: not a wheel file name")
    pythons, abi, platform = match.group(4, 5, 6)
    if abi != "none" or platform != "any" or "py3" not in pythons.split("."):
        return Problem(f"{filename}: not pure Python (tags {pythons}-{abi}-{platform})")
    return None


def check_requirements(
    requires: Mapping[str, Iterable[str]], requires_python: Mapping[str, str | None]
) -> list[Problem]:
    """The bundle is closed under its wheels' requirements for every Python and platform."""
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    problems = []
    for dist, spec in requires_python.items():
        if spec and not all(SpecifierSet(spec).contains(v) for v in PYTHONS):
            problems.append(Problem(f"{dist}: Requires-Python {spec} excludes one of {PYTHONS}"))
    for dist, lines in requires.items():
        for line in lines:
            req = Requirement(line)
            name = normalize(req.name)
            environments = [
                {"python_version": v, "python_full_version": f"{v}.0", "sys_platform": p}
                for v in PYTHONS
                for p in PLATFORMS
            ]
            if req.marker and not any(
                req.marker.evaluate({**e, "extra": ""}) for e in environments
            ):
                continue
            if name in EXCLUDED:
                continue
            if name not in PINS:
                problems.append(Problem(f"{dist} requires {line!r}, which the bundle lacks"))
            elif not req.specifier.contains(PINS[name], prereleases=True):
                problems.append(Problem(f"{dist} requires {line!r}; bundle has {PINS[name]}"))
    return problems

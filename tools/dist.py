"""`make dist`: the release archives and the krew manifest, in dist/.

    python -m tools.dist [--out DIR]

1. Wheels of tools/bundle.py's pins into build/dist/wheels (pure ones downloaded with
   `pip download --platform any --abi none`, PyYAML built from its sdist without libyaml),
   each checked: `py3-none-any`, admits Python 3.10+, and the set closed under its
   requirements (aiohttp excluded with its reason).
2. One zipapp, `build/dist/kubectl-scipian`: `#!/usr/bin/env python3`, the bootstrap
   (tools/zipapp_main.py), kubectl_scipian and the unpacked wheels (less EXCLUDED_PATHS).
3. Per os/arch a .tar.gz with the zipapp, `kubectl_complete-scipian`, LICENSE, README.md.
4. dist/plugin.yaml with each archive's real sha256 (with --repo-manifest, also ./plugin.yaml:
   the manifest of the current release, committed when cutting one).

Builds are reproducible: sorted entries, fixed times (SOURCE_DATE_EPOCH, default
2026-01-01), fixed modes and owners, gzip without a name or time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from tools import bundle

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kubectl_scipian"
NAME = "scipian"
BIN = "kubectl-scipian"
COMPLETE_BIN = "kubectl_complete-scipian"
REPO = "https://github.com/scipian/kubectl-scipian"
TARGETS = (("linux", "amd64"), ("linux", "arm64"), ("darwin", "amd64"), ("darwin", "arm64"))
DEFAULT_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
COMPLETE_SCRIPT = f"""#!/bin/sh
# kubectl >= 1.26 runs kubectl_complete-{NAME} to complete `kubectl {NAME} ...`.
# krew links only {BIN} into its bin directory: link this file there too (see README).
exec {BIN} completion __complete "$@"
"""


class DistError(Exception):
    pass


def version() -> str:
    text = (PACKAGE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise DistError("no __version__ in kubectl_scipian/__init__.py")
    return match.group(1)


def epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_EPOCH)


# -- 1. wheels --------------------------------------------------------------------------


def wheels(wheel_dir: Path) -> list[Path]:
    """One pure wheel per pin, fetched or built when missing, then checked."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    have = {_wheel_key(p.name): p for p in wheel_dir.glob("*.whl")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    missing = [n for n, v in bundle.PINS.items() if (n, v) not in have]
    download = [f"{n}=={bundle.PINS[n]}" for n in missing if n not in bundle.FROM_SDIST]
    if download:
        floor = ".".join(map(str, bundle.PYTHON_FLOOR))
        subprocess.run(
            [
                *pip,
                *("download", "--no-deps", "--only-binary=:all:", "--platform", "any"),
                *("--implementation", "py", "--abi", "none", "--python-version", floor),
                *("-d", str(wheel_dir), *download),
            ],
            check=True,
        )
    for name in missing:
        if name in bundle.FROM_SDIST:
            env = dict(os.environ, **bundle.FROM_SDIST[name])
            pin = f"{name}=={bundle.PINS[name]}"
            subprocess.run(
                [*pip, "wheel", "--no-deps", "--no-binary", name, "-w", str(wheel_dir), pin],
                check=True,
                env=env,
            )
    found = {_wheel_key(p.name): p for p in wheel_dir.glob("*.whl")}
    chosen = []
    for name, ver in bundle.PINS.items():
        if (name, ver) not in found:
            raise DistError(f"no wheel of {name}=={ver} in {wheel_dir}")
        chosen.append(found[(name, ver)])
    check(chosen)
    return chosen


def _wheel_key(filename: str) -> tuple[str, str]:
    name, ver = filename.split("-")[:2]
    return bundle.normalize(name), ver


def check(chosen: list[Path]) -> None:
    problems = [p for w in chosen if (p := bundle.check_wheel_name(w.name))]
    requires: dict[str, list[str]] = {"kubectl-scipian": own_requirements()}
    requires_python: dict[str, str | None] = {}
    for w in chosen:
        meta = wheel_metadata(w)
        dist = f"{meta['Name']} {meta['Version']}"
        requires[dist] = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
        requires_python[dist] = meta.get("Requires-Python")
    problems += bundle.check_requirements(requires, requires_python)
    constraints = bundle.parse_constraints((ROOT / "constraints.txt").read_text())
    problems += bundle.check_pins_against_constraints(constraints)
    if problems:
        raise DistError("the bundle is not sound:\n  " + "\n  ".join(map(str, problems)))


def wheel_metadata(wheel: Path):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def own_requirements() -> list[str]:
    """setup.py's install_requires (no extras), read without running setup.py."""
    text = (ROOT / "setup.py").read_text()
    block = re.search(r"install_requires=\[(.*?)\]", text, re.S)
    if not block:
        raise DistError("no install_requires in setup.py")
    return re.findall(r'"([^"]+)"', block.group(1))


# -- 2. the zipapp ----------------------------------------------------------------------


def entries(chosen: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, data) of everything in the zip except __main__.py, sorted by name."""
    files: dict[str, bytes] = {}
    for w in chosen:
        with zipfile.ZipFile(w) as z:
            for info in z.infolist():
                if not info.is_dir() and not bundle.excluded_path(info.filename):
                    files[info.filename] = z.read(info)
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not bundle.excluded_path(rel):
            files[rel] = path.read_bytes()
    for name in sorted(files):
        yield name, files[name]


def zipapp(chosen: list[Path], out: Path) -> Path:
    items = list(entries(chosen))
    build_id = hashlib.sha256()
    for name, data in items:
        build_id.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    main = (Path(__file__).parent / "zipapp_main.py").read_text()
    main = main.replace('BUILD_ID = "dev"', f'BUILD_ID = "{build_id.hexdigest()[:16]}"', 1)
    stamp = time.gmtime(max(epoch(), 315532800))[:6]
    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in [("__main__.py", main.encode()), *items]:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    out.chmod(0o755)
    return out


# -- 3. archives ------------------------------------------------------------------------


def archive_name(ver: str, os_: str, arch: str) -> str:
    return f"{BIN}_v{ver}_{os_}_{arch}.tar.gz"


def tarball(app: Path, out: Path) -> Path:
    members = [
        (BIN, app.read_bytes(), 0o755),
        (COMPLETE_BIN, COMPLETE_SCRIPT.encode(), 0o755),
        ("LICENSE", (ROOT / "LICENSE").read_bytes(), 0o644),
        ("README.md", (ROOT / "README.md").read_bytes(), 0o644),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, epoch()
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with out.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", filename="", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out


# -- 4. the manifest --------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    uri: str
    sha256: str


DESCRIPTION = """\
Short-lived, audited, per-environment kubectl access to the Kubernetes clusters
that Scipian created for you. `kubectl scipian login` logs you in with OIDC;
`kubectl scipian <env> get|describe|logs ...` fetches a short-lived kubeconfig
for that environment from the Scipian backend, caches it in your config
directory (never in ~/.kube/config) and prints what kubectl would print.
"""

CAVEATS = """\
This plugin is a Python zipapp: it needs python3 >= 3.10 on your PATH
(`python3 --version`); its dependencies are bundled, nothing else is installed.

Point it at your backend, then log in:
  export SCIPIAN_BACKEND_URL=https://scipian.example.com
  kubectl scipian login
  kubectl scipian dev get pods

Completion of `kubectl scipian ...` (kubectl >= 1.26) needs kubectl_complete-scipian
on your PATH; krew does not link it:
  ln -s "$(dirname "$(readlink -f "$(command -v kubectl-scipian)")")/kubectl_complete-scipian" \\
        "${KREW_ROOT:-$HOME/.krew}/bin/"
"""


def manifest(ver: str, platforms: list[Platform]) -> str:
    """The krew manifest as YAML text (written by hand: stable order, block scalars)."""

    def block(text: str, indent: str) -> str:
        return "".join(f"{indent}{line}\n" if line else "\n" for line in text.splitlines())

    lines = [
        "# krew manifest of kubectl-scipian, written by `make dist` (tools/dist.py).",
        "# Each sha256 is that of the archive `make dist` built for this release;",
        "# `python -m tools.dist --repo-manifest` writes ./plugin.yaml when cutting one.",
        "apiVersion: krew.googlecontainertools.github.com/v1alpha2",
        "kind: Plugin",
        "metadata:",
        f"  name: {NAME}",
        "spec:",
        f"  version: v{ver}",
        f"  homepage: {REPO}",
        "  shortDescription: Short-lived, audited kubectl access to Scipian environments",
        "  description: |",
    ]
    text = "\n".join(lines) + "\n" + block(DESCRIPTION, "    ")
    text += "  caveats: |\n" + block(CAVEATS, "    ")
    text += "  platforms:\n"
    for p in platforms:
        text += (
            "    - selector:\n"
            "        matchLabels:\n"
            f"          os: {p.os}\n"
            f"          arch: {p.arch}\n"
            f"      uri: {p.uri}\n"
            f"      sha256: {p.sha256}\n"
            f"      bin: {BIN}\n"
        )
    return text


def release_uri(ver: str, filename: str) -> str:
    return f"{REPO}/releases/download/v{ver}/{filename}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the whole build --------------------------------------------------------------------


def build(out_dir: Path, work_dir: Path, *, write_repo_manifest: bool = False) -> list[Path]:
    ver = version()
    chosen = wheels(work_dir / "wheels")
    app = zipapp(chosen, work_dir / BIN)
    out_dir.mkdir(parents=True, exist_ok=True)
    platforms, built = [], []
    for os_, arch in TARGETS:
        path = tarball(app, out_dir / archive_name(ver, os_, arch))
        built.append(path)
        platforms.append(Platform(os_, arch, release_uri(ver, path.name), sha256(path)))
    text = manifest(ver, platforms)
    (out_dir / "plugin.yaml").write_text(text)
    built.append(out_dir / "plugin.yaml")
    if write_repo_manifest:
        (ROOT / "plugin.yaml").write_text(text)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools.dist", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument(
        "--work", type=Path, default=ROOT / "build" / "dist", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--repo-manifest",
        action="store_true",
        help="also write the manifest to ./plugin.yaml (when cutting a release)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        built = build(args.out, args.work, write_repo_manifest=args.repo_manifest)
    except (DistError, subprocess.CalledProcessError, OSError) as err:
        print(f"dist: {err}", file=sys.stderr)
        return 1
    for path in built:
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
            f"  {path.stat().st_size:,} bytes"
        )
    print(f"dist: done in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make image`: the backend's container image (backend/Containerfile), built with buildah.

No container registry is reachable, so the base is a Debian root filesystem made by
debootstrap (SUITE, minbase + BASE_PACKAGES), cached by suite and package list, with the
versions of its packages recorded beside it. The image is cached by a hash of its inputs
(the Containerfile, the backend's sources and project file, constraints.txt, the suite and
this file): a warm `make image` only checks that the tagged image is still in the store.

Tags: REPOSITORY:<backend version>, what the chart's values.yaml names, and
REPOSITORY:inputs-<hash>, which names exactly these inputs (the e2e test runs that one).
buildah keeps its images under the stack cache (vfs storage, chroot isolation: no
daemon, no kernel overlay, no user namespaces needed).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.stack.paths import ROOT, cache_dir

BACKEND = ROOT / "backend"
CONTAINERFILE = BACKEND / "Containerfile"
CONSTRAINTS = ROOT / "constraints.txt"
REPOSITORY = "ghcr.io/scipian/scipian-backend"
SUITE = "bookworm"  # Debian 12; its python3 is 3.11
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
MIRROR = os.environ.get("SCIPIAN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SKIPPED = {"__pycache__", "build", "dist"}


class ImageError(Exception):
    """A build step failed: one line for the user, exit 1."""


def image_dir() -> Path:
    return cache_dir() / "image"


def backend_version() -> str:
    text = (BACKEND / "scipian_backend" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise ImageError("no __version__ in backend/scipian_backend/__init__.py")
    return match.group(1)


def _backend_files() -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(BACKEND):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED and ".egg-info" not in d)
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(".pyc")]
    return files


def _helm_files() -> list[Path]:
    """The pinned Helm 4's Go module (tests/tools/helm4): the image carries that binary."""
    from tests.tools import HELM4_SRC

    return sorted(p for p in HELM4_SRC.iterdir() if p.is_file())


def inputs_hash() -> str:
    digest = hashlib.sha256()
    digest.update(f"{SUITE} {' '.join(BASE_PACKAGES)}\n".encode())
    for path in [*_backend_files(), *_helm_files(), CONSTRAINTS, Path(__file__)]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()[:16]


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """buildah on the project's own store (vfs: works inside containers and chroots)."""
    store = image_dir() / "containers"
    argv = [
        "buildah",
        f"--root={store / 'storage'}",
        f"--runroot={store / 'run'}",
        "--storage-driver=vfs",
        *args,
    ]
    got = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and got.returncode != 0:
        last = (got.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ImageError(f"buildah {args[0]} failed: {last}")
    return got


def scratch_archive(binary: Path, name: str, archive: Path) -> Path:
    """One static binary alone in an image (its entrypoint, no shell, no base), pushed to
    `archive` as an OCI archive tagged `name`: the real node's pause and test images. Written
    under a temporary name first, so a crash never leaves a half archive that looks done."""
    entry = f"/{binary.name}"
    container = buildah("from", "scratch").stdout.strip()
    try:
        buildah("copy", container, str(binary), entry)
        buildah("config", "--entrypoint", f'["{entry}"]', "--cmd", "[]", container)
        buildah("commit", "-q", container, name)
    finally:
        buildah("rm", container, check=False)
    tmp = archive.with_name(archive.name + ".tmp")
    tmp.unlink(missing_ok=True)
    buildah("push", name, f"oci-archive:{tmp}:{name}")
    tmp.rename(archive)
    return archive


def image_ref(digest: str) -> str:
    return f"{REPOSITORY}:inputs-{digest}"


def _run(argv: Sequence[str], what: str, **kwargs: object) -> None:
    got = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if got.returncode != 0:
        last = (got.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ImageError(f"{what} failed: {last}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time per machine (several checkouts share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise ImageError(f"{name} not found: run scripts/bootstrap (installs it with apt)")
    return found


def base_rootfs() -> tuple[Path, Path]:
    """(rootfs tarball, its package list), made by debootstrap once per suite and list."""
    recipe = f"{SUITE} {' '.join(BASE_PACKAGES)}\n{inspect.getsource(base_rootfs)}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    tarball = image_dir() / f"base-{SUITE}-{key}.tar"
    packages = tarball.with_suffix(".packages.txt")
    if tarball.exists() and packages.exists():
        return tarball, packages
    debootstrap = _tool("debootstrap")
    work = image_dir() / f"base-{SUITE}-{key}.d"
    shutil.rmtree(work, ignore_errors=True)
    print(f"image: debootstrap {SUITE} (minbase + {', '.join(BASE_PACKAGES)})", file=sys.stderr)
    _run(
        [
            debootstrap,
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            SUITE,
            str(work),
            MIRROR,
        ],
        f"debootstrap {SUITE}",
    )
    listing = subprocess.run(
        ["dpkg-query", f"--admindir={work / 'var/lib/dpkg'}", "-W", "-f=${Package}\t${Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Neither apt's downloads and lists nor documentation belong in an image (as Debian's
    # slim images; the package list above still names every package).
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (work / leftover).glob("*"):
            if entry.is_file():
                entry.unlink()
    for docs in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
        shutil.rmtree(work / docs, ignore_errors=True)
        (work / docs).mkdir()
    tmp = tarball.with_suffix(".tmp")
    _run(["tar", "--numeric-owner", "-C", str(work), "-cf", str(tmp), "."], "tar of the rootfs")
    packages.write_text(f"# debootstrap --variant=minbase {SUITE} ({MIRROR})\n{listing}")
    tmp.replace(tarball)
    shutil.rmtree(work, ignore_errors=True)
    return tarball, packages


def _python_version(rootfs_tar: Path) -> str:
    """The base's python3 (X.Y), the version the wheels are fetched for."""
    names = subprocess.run(
        ["tar", "-tf", str(rootfs_tar), "./usr/bin/"], capture_output=True, text=True, check=True
    ).stdout.split()
    pythons = (re.fullmatch(r"\./usr/bin/python(3\.\d+)", n) for n in names)
    found = sorted(m.group(1) for m in pythons if m)
    if not found:
        raise ImageError(f"no python3 in the {SUITE} base")
    return found[-1]


def wheels(target: Path, python: str) -> None:
    """The backend's wheel, and its dependencies' wheels for the base's Python."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "-w", str(target), str(BACKEND)], "pip wheel ./backend")
    arch = os.uname().machine
    platforms = [f"--platform=manylinux_2_{n}_{arch}" for n in (17, 28, 31, 34, 36)]
    _run(
        [
            *pip,
            "download",
            "-d",
            str(target),
            "--find-links",
            str(target),
            "-c",
            str(CONSTRAINTS),
            "--only-binary=:all:",
            f"--python-version={python}",
            "--implementation=cp",
            *platforms,
            f"--platform=manylinux2014_{arch}",
            f"scipian-backend=={backend_version()}",
        ],
        "pip download of the backend's dependencies",
    )


def exists(ref: str) -> bool:
    return buildah("inspect", "--type=image", ref, check=False).returncode == 0


def build(force: bool = False) -> str:
    """Builds the image unless these inputs were built already; returns its inputs tag."""
    digest = inputs_hash()
    ref = image_ref(digest)
    stamp = image_dir() / digest / "image-id"
    if not force and stamp.exists() and exists(ref):
        return ref
    if os.geteuid() != 0:
        raise ImageError("building the image needs root (debootstrap, buildah's chroot isolation)")
    _tool("buildah")
    with _locked(image_dir() / ".lock"):
        if not force and stamp.exists() and exists(ref):
            return ref  # another checkout built it while this one waited
        started = time.monotonic()
        rootfs, packages = base_rootfs()
        out = image_dir() / digest
        context = out / "context"
        shutil.rmtree(context, ignore_errors=True)
        (context / "wheels").mkdir(parents=True)
        os.link(rootfs, context / "rootfs.tar")
        shutil.copy(CONSTRAINTS, context / "constraints.txt")
        # The backend's own helm (serve --helm): the pinned Helm 4, built from its module.
        from tests import tools

        shutil.copy(tools.helm4(), context / "helm")
        wheels(context / "wheels", _python_version(rootfs))
        version_ref = f"{REPOSITORY}:{backend_version()}"
        print(f"image: building {version_ref} ({ref})", file=sys.stderr)
        buildah(
            "bud",
            "--isolation=chroot",
            "--layers=false",
            f"--file={CONTAINERFILE}",
            f"--tag={ref}",
            f"--tag={version_ref}",
            f"--label=org.opencontainers.image.version={backend_version()}",
            f"--label=io.scipian.base=debian-{SUITE}",
            str(context),
        )
        image_id = buildah("inspect", "--type=image", "--format={{.FromImageID}}", ref).stdout
        shutil.copy(packages, out / "base-packages.txt")
        shutil.rmtree(context)
        stamp.write_text(image_id.strip() + "\n")
        _prune(keep=digest)
        took = time.monotonic() - started
        print(f"image: built in {took:.0f}s; base packages in {out / 'base-packages.txt'}",
              file=sys.stderr)  # fmt: skip
    return ref


def _prune(keep: str, newest: int = 3) -> None:
    """Drops all but the newest few inputs-tagged images (vfs keeps full copies of each);
    other checkouts sharing the store rebuild theirs in seconds from the cached base."""
    listed = buildah("images", "--json", check=False)
    if listed.returncode != 0:
        return
    images = sorted(json.loads(listed.stdout or "[]"), key=lambda i: i.get("created", 0))
    ours = f"{REPOSITORY}:inputs-"
    tagged = [i for i in images if any(n.startswith(ours) for n in i.get("names") or [])]
    for image in tagged[:-newest]:
        names = image.get("names") or []
        if not any(n.endswith(f":inputs-{keep}") for n in names):
            for name in names:  # in use by a container: kept
                buildah("rmi", name, check=False)
    for stale in image_dir().iterdir():
        built = stale.is_dir() and re.fullmatch(r"[0-9a-f]{16}", stale.name) is not None
        if built and stale.name != keep and not exists(image_ref(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    current, _ = base_rootfs()
    for base in image_dir().glob("base-*.tar"):
        if base != current:
            base.unlink()
            base.with_suffix(".packages.txt").unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.image", description=__doc__.split("\n")[0])
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.add_argument("--print-ref", action="store_true", help="print the image's inputs tag")
    args = p.parse_args(argv)
    try:
        ref = build(force=args.force)
    except ImageError as e:
        print(f"image: {e}", file=sys.stderr)
        return 1
    if args.print_ref:
        print(ref)
    else:
        print(f"image: {ref} (and {REPOSITORY}:{backend_version()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

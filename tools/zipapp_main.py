"""`__main__.py` of the kubectl-scipian zipapp (tools/dist.py copies it in as is).

Everything is imported from the zip itself; nothing is unpacked or installed. zipimport
alone would compile every module's source on every run (a zip cannot hold bytecode for
every Python version the archive runs on, and zipimport never writes bytecode): ~2 s for
the kubernetes client. So the archive's paths get a zipimporter that keeps compiled code
in the user's cache directory, one directory per build and Python version, like
`__pycache__` does for installed code. It is this program's own cache, so
PYTHONDONTWRITEBYTECODE (often set globally in images) does not turn it off;
KUBECTL_SCIPIAN_NO_BYTECODE_CACHE=1 does. When the directory cannot be written, modules
are compiled in memory: it still works, only slower.

The executable's name picks the entry: `kubectl_complete-scipian` (kubectl's plugin
completion) or anything else for `kubectl-scipian`.
"""

import sys

if sys.version_info < (3, 10):  # noqa: UP036 (an old python3 gets one clear line)
    found = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sys.stderr.write(f"kubectl-scipian: needs Python >= 3.10, python3 is {found}\n")
    sys.exit(1)

import contextlib
import marshal
import os
import zipimport
from importlib.util import MAGIC_NUMBER

BUILD_ID = "dev"  # replaced by tools/dist.py with a hash of the archive's contents


def _cache_root() -> str:
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    tag = sys.implementation.cache_tag or "python"
    return os.path.join(base, "kubectl-scipian", "zipapp", BUILD_ID, tag)


class CachingZipImporter(zipimport.zipimporter):
    cache_root = _cache_root()

    def _relpath(self, fullname: str) -> str:
        last = fullname.rpartition(".")[2]
        tail = "/__init__.py" if self.is_package(fullname) else ".py"
        return self.prefix.replace(os.sep, "/") + last + tail

    def get_filename(self, fullname: str) -> str:
        # zipimporter's own compiles the module just to name its file.
        return os.path.join(self.archive, *self._relpath(fullname).split("/"))

    def get_code(self, fullname: str):  # type: ignore[no-untyped-def]
        rel = self._relpath(fullname)
        cached = os.path.join(self.cache_root, *rel.split("/")) + "c"
        try:
            with open(cached, "rb") as f:
                data = f.read()
            if data[:4] == MAGIC_NUMBER:
                return marshal.loads(data[16:])  # noqa: S302 (our own cache, 0700)
        except (OSError, ValueError, EOFError):
            pass
        source = self.get_source(fullname)
        if source is None:
            return super().get_code(fullname)
        code = compile(source, self.get_filename(fullname), "exec", dont_inherit=True)
        if not os.environ.get("KUBECTL_SCIPIAN_NO_BYTECODE_CACHE"):
            _write(cached, MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
        return code


def _write(path: str, data: bytes) -> None:
    # Not kubectl_scipian.support.files.write_private, on purpose: this runs while the
    # package's own modules are being imported through this importer (importing the writer
    # here would need the writer to cache its own bytecode first), and it writes compiled
    # code, not credentials: a lost or partial file is only recompiled (the magic number
    # and marshal checks above reject it).
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _install(archive: str) -> None:
    def hook(path: str) -> zipimport.zipimporter:
        if path == archive or path.startswith(archive + os.sep):
            return CachingZipImporter(path)
        raise ImportError(path)

    sys.path_hooks.insert(0, hook)
    # `python3 a.pyz` puts the relative "a.pyz" on sys.path: make it the absolute name.
    sys.path[:] = [archive if p and os.path.abspath(p) == archive else p for p in sys.path]
    for path in list(sys.path_importer_cache):
        if path == archive or path.startswith(archive + os.sep):
            del sys.path_importer_cache[path]


def main() -> None:
    archive = os.path.dirname(os.path.abspath(__file__))
    _install(archive)
    os.umask(0o077)  # what the plugin writes holds or sits beside credentials
    if os.path.basename(sys.argv[0]).startswith("kubectl_complete-"):
        from kubectl_scipian.complete import main as complete

        complete()
    else:
        from kubectl_scipian.__main__ import main as plugin

        plugin()


if __name__ == "__main__":
    main()

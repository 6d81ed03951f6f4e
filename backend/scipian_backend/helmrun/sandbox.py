"""Every helm the backend runs (upload check, creation renders, execution) runs here.

A run gets: a private 0700 workspace on the scratch dir (removed after use) holding HOME,
TMPDIR and every HELM_* cache, config and data dir, so there are no plugins, repositories
or registry credentials to find; HELM_DRIVER=secret; an explicit private kubeconfig or
none; no KUBERNETES_SERVICE_* (no in-cluster fallback), no proxies, a minimal PATH. It runs
in its own process group with PR_SET_PDEATHSIG(SIGKILL) (it dies with the thread that
started it, which waits for it), a memory and a CPU-time limit, its output capped. At most
`max_runs` run at once per replica, whatever they are for; a run that finds no slot within
`wait_slot` seconds raises HelmBusy. On timeout or cancel the group gets SIGTERM, `grace`
seconds, then SIGKILL; kill_all() SIGKILLs every group (a replica that lost its lease).

The memory bound is RLIMIT_DATA (the private writable mappings Go's heap lives in): Go's
runtime reserves hundreds of MiB of address space it never touches (measured: Helm 4.3
does not start under RLIMIT_AS 768 MiB, nor at 1.25 GiB with a 256 MiB heap), so RLIMIT_AS
at 512 MiB would stop every helm before it ran; RLIMIT_AS is the memory bound plus 2 GiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
MAX_RUNS = 2
MEMORY_BYTES = 512 * 1024 * 1024
CPU_SECONDS = 120
TERM_GRACE_SECONDS = 30.0
WAIT_SLOT_SECONDS = 20.0
OUTPUT_BYTES = 32 * 1024 * 1024  # each of stdout and stderr: helm -o json of a large release
SCRATCH_BYTES = 64 * 1024 * 1024  # what workspaces may hold at once (the emptyDir's budget)
GO_RESERVE_BYTES = 2 * 1024 * 1024 * 1024  # address space Go reserves beyond its heap
MINIMAL_PATH = "/usr/bin:/bin"
# Relative to the workspace: helm finds nothing of the backend's own home or the host's.
HELM_DIRS = {
    "HOME": "home",
    "TMPDIR": "tmp",
    "XDG_CACHE_HOME": "home/.cache",
    "XDG_CONFIG_HOME": "home/.config",
    "XDG_DATA_HOME": "home/.local/share",
    "HELM_CACHE_HOME": "helm/cache",
    "HELM_CONFIG_HOME": "helm/config",
    "HELM_DATA_HOME": "helm/data",
    "HELM_PLUGINS": "helm/plugins",
    "HELM_REGISTRY_CONFIG": "helm/config/registry/config.json",
    "HELM_REPOSITORY_CACHE": "helm/cache/repository",
    "HELM_REPOSITORY_CONFIG": "helm/config/repositories.yaml",
    "HELM_CONTENT_CACHE": "helm/cache/content",
}


class HelmBusy(Exception):
    """No run slot within wait_slot seconds: the caller answers 503 or retries later."""


class ScratchFull(Exception):
    """Writing would take the scratch dir past its byte budget."""


@dataclass(frozen=True)
class HelmResult:
    code: int
    stdout: bytes
    stderr: bytes
    reason: str  # "" | "timeout" | "cancelled" | "killed" | "output"

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.reason


@dataclass
class Workspace:
    """A private 0700 dir on the scratch dir; its writes count against the byte budget."""

    path: Path
    _budget: _Budget = field(repr=False)
    used: int = 0

    def write(self, name: str, data: bytes) -> str:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError("a workspace file name is one plain path component")
        self._budget.take(len(data))
        self.used += len(data)
        target = self.path / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return str(target)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            if self.used + n > self.limit:
                raise ScratchFull(f"the helm scratch dir's budget ({self.limit} bytes) is spent")
            self.used += n

    def give(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


def _prctl() -> Callable[..., int] | None:
    # Resolved before any fork: the child only calls it (no dlopen after fork).
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


class HelmSandbox:
    def __init__(
        self,
        helm: str,
        scratch_dir: str | None = None,
        *,
        max_runs: int = MAX_RUNS,
        memory_bytes: int = MEMORY_BYTES,
        cpu_seconds: int = CPU_SECONDS,
        term_grace: float = TERM_GRACE_SECONDS,
        wait_slot: float = WAIT_SLOT_SECONDS,
        output_bytes: int = OUTPUT_BYTES,
        scratch_bytes: int = SCRATCH_BYTES,
    ) -> None:
        if min(max_runs, memory_bytes, cpu_seconds, output_bytes, scratch_bytes) < 1:
            raise ValueError("helm sandbox bounds must be positive")
        if term_grace < 0 or wait_slot < 0:
            raise ValueError("helm sandbox waits must not be negative")
        self.helm = helm
        if scratch_dir is None:
            scratch_dir = tempfile.mkdtemp(prefix="scipian-helm-")
        self.scratch = Path(scratch_dir)
        self.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_runs = max_runs
        self.memory_bytes = memory_bytes
        self.cpu_seconds = cpu_seconds
        self.term_grace = term_grace
        self.wait_slot = wait_slot
        self.output_bytes = output_bytes
        self._budget = _Budget(scratch_bytes)
        self._slots = threading.BoundedSemaphore(max_runs)
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._killed: set[int] = set()
        self._lock = threading.Lock()

    # -- workspaces ------------------------------------------------------------------------

    @contextlib.contextmanager
    def workspace(self) -> Iterator[Workspace]:
        path = Path(tempfile.mkdtemp(prefix="ws-", dir=self.scratch))
        ws = Workspace(path, self._budget)
        try:
            yield ws
        finally:
            shutil.rmtree(path, ignore_errors=True)
            self._budget.give(ws.used)

    def environment(self, ws: Workspace, kubeconfig: str | None) -> dict[str, str]:
        """What helm sees: nothing of the backend's own environment."""
        env = {"PATH": MINIMAL_PATH, "LANG": "C", "HELM_DRIVER": "secret"}
        for var, rel in HELM_DIRS.items():
            env[var] = str(ws.path / rel)
        for var in ("HOME", "TMPDIR", "HELM_PLUGINS", "HELM_CACHE_HOME", "HELM_CONFIG_HOME"):
            Path(env[var]).mkdir(parents=True, exist_ok=True, mode=0o700)
        # No kubeconfig: one that names no cluster, so helm cannot fall back to ~/.kube.
        env["KUBECONFIG"] = kubeconfig or str(ws.path / "no-kubeconfig")
        # The Go runtime: collect before the data limit, one thread per core at most.
        env["GOMEMLIMIT"] = str(max(1, self.memory_bytes * 3 // 4))
        return env

    # -- runs ------------------------------------------------------------------------------

    def run(
        self,
        ws: Workspace,
        args: Sequence[str],
        *,
        timeout: float,
        kubeconfig: str | None = None,
        cancel: threading.Event | None = None,
        wait: float | None = None,
        grace: float | None = None,
    ) -> HelmResult:
        """One helm run; `wait` overrides how long it waits for a slot (wait_slot), `grace`
        the SIGTERM grace: renders change nothing, so they are killed at once (a template
        looping forever ignores SIGTERM and would hold a slot for the whole grace)."""
        patience = self.wait_slot if wait is None else wait
        if not self._slots.acquire(timeout=patience):
            raise HelmBusy(f"no helm run slot within {patience:g} s")
        try:
            term = self.term_grace if grace is None else max(0.0, grace)
            return self._run(ws, list(args), timeout, kubeconfig, cancel, term)
        finally:
            self._slots.release()

    def _run(
        self,
        ws: Workspace,
        args: list[str],
        timeout: float,
        kubeconfig: str | None,
        cancel: threading.Event | None,
        term_grace: float,
    ) -> HelmResult:
        env = self.environment(ws, kubeconfig)
        parent = os.getpid()
        limits = (self.memory_bytes, self.cpu_seconds)

        def preexec() -> None:  # in the child, between fork and exec: no locks, no imports
            if _PRCTL is not None:
                _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(137)
            memory, cpu = limits
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
            resource.setrlimit(resource.RLIMIT_AS, (memory + GO_RESERVE_BYTES,) * 2)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        proc = subprocess.Popen(
            [self.helm, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(ws.path),
            env=env,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
        with self._lock:
            self._running[proc.pid] = proc
        over = threading.Event()
        out = _Capture(proc.stdout, self.output_bytes, over)
        err = _Capture(proc.stderr, self.output_bytes, over)
        reason = ""
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                if over.is_set():
                    reason = "output"
                    self._stop(proc, grace=0)
                    break
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    self._stop(proc, term_grace)
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    reason = "timeout"
                    self._stop(proc, term_grace)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(min(0.1, left))
        finally:
            if proc.poll() is None:  # an exception above: never leave it running
                self._stop(proc, grace=0)
            proc.wait()
            out.join()
            err.join()
            with self._lock:
                self._running.pop(proc.pid, None)
                killed = proc.pid in self._killed
                self._killed.discard(proc.pid)
        code = proc.returncode
        if not reason and (killed or code == -signal.SIGKILL or code == -signal.SIGXCPU):
            reason = "killed"  # kill_all, the CPU limit, or the kernel
        if not reason and over.is_set():
            reason = "output"
        return HelmResult(code, out.data(), err.data(), reason)

    def _stop(self, proc: subprocess.Popen[bytes], grace: float) -> None:
        """SIGTERM the group, wait up to `grace`, then SIGKILL it."""
        if grace > 0:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
                return
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def kill_all(self) -> None:
        with self._lock:
            pids = list(self._running)
            self._killed.update(pids)
        for pid in pids:
            _signal_group(pid, signal.SIGKILL)

    def running(self) -> int:
        with self._lock:
            return len(self._running)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # start_new_session: the group's id is helm's pid


class _Capture:
    """Reads a pipe in a thread, keeping at most `cap` bytes; beyond it sets `over` (the run
    is stopped) and drains the rest so the child never blocks on a full pipe."""

    def __init__(self, pipe: object, cap: int, over: threading.Event) -> None:
        self._pipe = pipe
        self._cap = cap
        self._over = over
        self._chunks: list[bytes] = []
        self._size = 0
        self._thread = threading.Thread(target=self._read, name="helm-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        read = self._pipe.read1  # type: ignore[attr-defined]
        while True:
            chunk = read(65536)
            if not chunk:
                break
            if self._size + len(chunk) > self._cap:
                keep = self._cap - self._size
                if keep > 0:
                    self._chunks.append(chunk[:keep])
                    self._size += keep
                self._over.set()
                continue
            self._chunks.append(chunk)
            self._size += len(chunk)
        self._pipe.close()  # type: ignore[attr-defined]

    def join(self) -> None:
        self._thread.join()

    def data(self) -> bytes:
        return b"".join(self._chunks)

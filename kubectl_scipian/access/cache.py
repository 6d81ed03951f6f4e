"""The on-disk cache as a repository: the login (tokens) and the kubeconfigs of one backend,
as JSON records in private files (kubectl_scipian.support.files), with per-key locks.

Layout under ``<config dir>/cache`` (one directory per backend so logout is a directory
operation, not a scan):

    cache/                                   0700
      <sha256(backend)[:16]>/                0700
        backend.json                         the backend URL (for humans and `logout --all`)
        login.json, login.lock               id/refresh token of the current login
        kubeconfigs/                         0700
          <sha256(backend, user, env)>.json  one short-lived kubeconfig
          <same>.lock
          deploy-<sha256(backend, user, env, "deploy", sha256(justification))>.json
                                             a deploy-level one, apart from the read one and
                                             keyed by its justification (+ its .lock)
        read/<env>/                          the read commands' own cache (no secrets)

A record that cannot be parsed is deleted with a warning: a cache is never worth a
traceback, and the next invocation simply fetches again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from kubectl_scipian.errors import CacheLockTimeout, CacheUnwritable
from kubectl_scipian.support.files import ensure_private_dir, remove, write_private

SCHEMA = 1
LOCK_TIMEOUT = 60.0


def digest(*parts: str) -> str:
    """sha256 over the parts, NUL-separated so ("ab", "c") and ("a", "bc") differ."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def backend_dir(cache_dir: Path, backend_url: str) -> Path:
    return cache_dir / digest(backend_url)[:16]


def kubeconfig_key(backend_url: str, user: str, env_id: str) -> str:
    return digest(backend_url, user, env_id)


def deploy_key(backend_url: str, user: str, env_id: str, justification: str) -> str:
    """Another justification is another credential (each issuance is audited with its own)."""
    return "deploy-" + digest(backend_url, user, env_id, "deploy", digest(justification))


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing the cache (read-only, full, not ours) as one clear line."""
    try:
        yield
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise CacheUnwritable(f"cannot write the cache in {path.parent}: {why}") from None


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never half of either."""
    with writing(path):
        write_private(path, json.dumps(record, indent=1, sort_keys=True))


def read_json(path: Path, *, warn: TextIO | None = None) -> dict[str, Any] | None:
    """The record, or None when absent; a corrupt file is removed with a warning."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        discard(path, warn=warn)
        return None
    return record


def discard(path: Path, *, warn: TextIO | None = None) -> None:
    print(
        f"kubectl-scipian: warning: discarding unreadable cache file {path}",
        file=warn if warn is not None else sys.stderr,
    )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive flock on ``path``; waits up to ``timeout`` seconds.

    flock (not a lock *file* whose existence means "taken") so a crashed holder never
    leaves a stale lock behind: the kernel releases it with the process.
    """
    with writing(path):
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise CacheLockTimeout(
                    f"another kubectl-scipian process has held {path} for {timeout:.0f}s; try again"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def fresh(expires_at: float, issued_at: float, now: float, margin: float) -> bool:
    """Usable for a while yet: more than min(margin, a quarter of its lifetime) left.

    The quarter keeps very short lifetimes (a 5 s test id_token) usable at all.
    """
    lifetime = max(expires_at - issued_at, 0.0)
    return expires_at - now > min(margin, lifetime / 4)


class Login(NamedTuple):
    """The current login at one backend. `id_token`/`refresh_token` are secrets."""

    issuer: str
    client_id: str
    scopes: list[str]
    id_token: str
    refresh_token: str | None
    issued_at: float
    expires_at: float
    subject: str
    email: str
    groups: list[str]
    auth_time: float | None = None  # when the person last signed in at the provider
    flow: str = ""  # "device" or "browser": how that login was made (a step-up repeats it)

    @property
    def user(self) -> str:
        """The identity part of the kubeconfig cache key: issuer and subject, never a name."""
        return f"{self.issuer}#{self.subject}"

    def __repr__(self) -> str:  # keeps tokens out of any accidental debug print
        return f"Login(issuer={self.issuer!r}, subject={self.subject!r}, email={self.email!r})"


class CachedKubeconfig(NamedTuple):
    environment: str
    user: str
    expires_at: float
    fetched_at: float
    backend_user: str
    kubeconfig: str  # YAML text with a bearer token
    level: str = "read"
    justification: str = ""  # deploy: the --reason it was issued for

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.kubeconfig.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"CachedKubeconfig(environment={self.environment!r}, expires_at={self.expires_at})"


class BackendCache:
    """Everything cached for one backend URL."""

    def __init__(self, cache_dir: Path, backend_url: str, *, warn: TextIO) -> None:
        self.backend_url = backend_url
        self.root = backend_dir(cache_dir, backend_url)
        self.warn = warn

    # -- login --------------------------------------------------------------------------

    @property
    def login_path(self) -> Path:
        return self.root / "login.json"

    def login_lock(self, timeout: float = LOCK_TIMEOUT) -> AbstractContextManager[None]:
        return locked(self.root / "login.lock", timeout)

    def load_login(self) -> Login | None:
        record = read_json(self.login_path, warn=self.warn)
        if record is None:
            return None
        try:
            if record.get("backend") != self.backend_url:
                raise ValueError("another backend")
            return Login(
                issuer=str(record["issuer"]),
                client_id=str(record["clientID"]),
                scopes=[str(s) for s in record["scopes"]],
                id_token=str(record["idToken"]),
                refresh_token=record.get("refreshToken") or None,
                issued_at=float(record["issuedAt"]),
                expires_at=float(record["expiresAt"]),
                subject=str(record["subject"]),
                email=str(record.get("email") or ""),
                groups=[str(g) for g in record.get("groups") or []],
                auth_time=_number(record.get("authTime")),
                flow=str(record.get("flow") or ""),
            )
        except (KeyError, TypeError, ValueError):
            discard(self.login_path, warn=self.warn)
            return None

    def save_login(self, login: Login) -> None:
        self._mark()
        write_json(
            self.login_path,
            {
                "schema": SCHEMA,
                "backend": self.backend_url,
                "issuer": login.issuer,
                "clientID": login.client_id,
                "scopes": login.scopes,
                "idToken": login.id_token,
                "refreshToken": login.refresh_token,
                "issuedAt": login.issued_at,
                "expiresAt": login.expires_at,
                "subject": login.subject,
                "email": login.email,
                "groups": login.groups,
                "authTime": login.auth_time,
                "flow": login.flow,
            },
        )

    def remove_login(self) -> bool:
        return remove(self.login_path)

    # -- kubeconfigs --------------------------------------------------------------------

    @property
    def kubeconfig_dir(self) -> Path:
        return self.root / "kubeconfigs"

    def kubeconfig_path(self, user: str, env_id: str, justification: str | None = None) -> Path:
        """A read kubeconfig's file; with a justification, that deploy kubeconfig's."""
        if justification is not None:
            key = deploy_key(self.backend_url, user, env_id, justification)
        else:
            key = kubeconfig_key(self.backend_url, user, env_id)
        return self.kubeconfig_dir / f"{key}.json"

    def kubeconfig_lock(
        self,
        user: str,
        env_id: str,
        timeout: float = LOCK_TIMEOUT,
        justification: str | None = None,
    ) -> AbstractContextManager[None]:
        path = self.kubeconfig_path(user, env_id, justification)
        return locked(path.with_suffix(".lock"), timeout)

    def load_kubeconfig(
        self, user: str, env_id: str, justification: str | None = None
    ) -> CachedKubeconfig | None:
        """The read kubeconfig; with a justification, the deploy one issued for it (a read
        never gets a deploy record: another file, and the level is checked)."""
        path = self.kubeconfig_path(user, env_id, justification)
        record = read_json(path, warn=self.warn)
        if record is None:
            return None
        try:
            item = CachedKubeconfig(
                environment=str(record["environment"]),
                user=str(record["user"]),
                expires_at=float(record["expiresAt"]),
                fetched_at=float(record["fetchedAt"]),
                backend_user=str(record.get("backendUser") or ""),
                kubeconfig=str(record["kubeconfig"]),
                level=str(record.get("level") or "read"),
                justification=str(record.get("justification") or ""),
            )
            if (item.environment, item.user) != (env_id, user):
                raise ValueError("record for another key")
            level = "read" if justification is None else "deploy"
            if item.level != level or (level == "deploy" and item.justification != justification):
                raise ValueError("record for another level")
            return item
        except (KeyError, TypeError, ValueError):
            discard(path, warn=self.warn)
            return None

    def save_kubeconfig(self, item: CachedKubeconfig) -> None:
        self._mark()
        record: dict[str, Any] = {"schema": SCHEMA, "backend": self.backend_url}
        record.update(
            {
                "environment": item.environment,
                "user": item.user,
                "expiresAt": item.expires_at,
                "fetchedAt": item.fetched_at,
                "backendUser": item.backend_user,
                "kubeconfig": item.kubeconfig,
                "level": item.level,
                "justification": item.justification,
            }
        )
        write_json(self._path_of(item), record)

    def _path_of(self, item: CachedKubeconfig) -> Path:
        deploy = item.justification if item.level == "deploy" else None
        return self.kubeconfig_path(item.user, item.environment, deploy)

    def remove_kubeconfig(self, user: str, env_id: str, justification: str | None = None) -> bool:
        return remove(self.kubeconfig_path(user, env_id, justification))

    def deploy_expiries(self, user: str, env_id: str) -> list[float]:
        """Expiry of each cached deploy kubeconfig of env_id (for `envs`); no token read out."""
        found = []
        for path in (
            self.kubeconfig_dir.glob("deploy-*.json") if self.kubeconfig_dir.is_dir() else []
        ):
            record = read_json(path, warn=self.warn) or {}
            if record.get("environment") == env_id and record.get("user") == user:
                expiry = _number(record.get("expiresAt"))
                if expiry is not None:
                    found.append(expiry)
        return sorted(found)

    def kubeconfigs(self) -> Iterator[Path]:
        if self.kubeconfig_dir.is_dir():
            yield from sorted(self.kubeconfig_dir.glob("*.json"))

    def remove_all_kubeconfigs(self) -> int:
        return sum(remove(p) for p in self.kubeconfigs())

    def read_cache_dir(self, env_id: str) -> Path:
        """The read commands' cache for one environment (discovery; holds no secrets)."""
        path = self.root / "read" / env_id
        with writing(path / "x"):
            return ensure_private_dir(path)

    def _mark(self) -> None:
        # Names the backend behind the hashed directory, for people looking at the cache.
        marker = self.root / "backend.json"
        if not marker.exists():
            write_json(marker, {"backend": self.backend_url})


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def all_backends(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return sorted(p for p in cache_dir.iterdir() if p.is_dir())

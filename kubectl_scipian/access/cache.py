"""Typed repositories over `cache`: the login (tokens) and the kubeconfigs of one backend."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from kubectl_scipian import cache

SCHEMA = 1


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

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.kubeconfig.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"CachedKubeconfig(environment={self.environment!r}, expires_at={self.expires_at})"


class BackendCache:
    """Everything cached for one backend URL."""

    def __init__(self, cache_dir: Path, backend_url: str, *, warn: TextIO) -> None:
        self.backend_url = backend_url
        self.root = cache.backend_dir(cache_dir, backend_url)
        self.warn = warn

    # -- login --------------------------------------------------------------------------

    @property
    def login_path(self) -> Path:
        return self.root / "login.json"

    def login_lock(self, timeout: float = cache.LOCK_TIMEOUT) -> AbstractContextManager[None]:
        return cache.locked(self.root / "login.lock", timeout)

    def load_login(self) -> Login | None:
        record = cache.read_json(self.login_path, warn=self.warn)
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
            )
        except (KeyError, TypeError, ValueError):
            cache.discard(self.login_path, warn=self.warn)
            return None

    def save_login(self, login: Login) -> None:
        self._mark()
        cache.write_json(
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
            },
        )

    def remove_login(self) -> bool:
        return cache.remove(self.login_path)

    # -- kubeconfigs --------------------------------------------------------------------

    @property
    def kubeconfig_dir(self) -> Path:
        return self.root / "kubeconfigs"

    def kubeconfig_path(self, user: str, env_id: str) -> Path:
        return self.kubeconfig_dir / f"{cache.kubeconfig_key(self.backend_url, user, env_id)}.json"

    def kubeconfig_lock(
        self, user: str, env_id: str, timeout: float = cache.LOCK_TIMEOUT
    ) -> AbstractContextManager[None]:
        return cache.locked(self.kubeconfig_path(user, env_id).with_suffix(".lock"), timeout)

    def load_kubeconfig(self, user: str, env_id: str) -> CachedKubeconfig | None:
        path = self.kubeconfig_path(user, env_id)
        record = cache.read_json(path, warn=self.warn)
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
            )
            if (item.environment, item.user) != (env_id, user):
                raise ValueError("record for another key")
            return item
        except (KeyError, TypeError, ValueError):
            cache.discard(path, warn=self.warn)
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
            }
        )
        cache.write_json(self.kubeconfig_path(item.user, item.environment), record)

    def remove_kubeconfig(self, user: str, env_id: str) -> bool:
        return cache.remove(self.kubeconfig_path(user, env_id))

    def kubeconfigs(self) -> Iterator[Path]:
        if self.kubeconfig_dir.is_dir():
            yield from sorted(self.kubeconfig_dir.glob("*.json"))

    def remove_all_kubeconfigs(self) -> int:
        return sum(cache.remove(p) for p in self.kubeconfigs())

    def read_cache_dir(self, env_id: str) -> Path:
        """The read commands' cache for one environment (discovery; holds no secrets)."""
        path = self.root / "read" / env_id
        with cache.writing(path / "x"):
            return cache.ensure_dir(path)

    def _mark(self) -> None:
        # Names the backend behind the hashed directory, for people looking at the cache.
        marker = self.root / "backend.json"
        if not marker.exists():
            cache.write_json(marker, {"backend": self.backend_url})


def all_backends(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return sorted(p for p in cache_dir.iterdir() if p.is_dir())

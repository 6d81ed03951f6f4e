"""The cache: keying, permissions, atomic writes, corrupt files, locks, typed records."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_scipian.access import cache
from kubectl_scipian.access.cache import BackendCache, CachedKubeconfig, Login, fresh
from kubectl_scipian.errors import CacheLockTimeout


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A permissive umask, so modes come from the code and not from the test's umask."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_is_sha256_of_backend_user_env() -> None:
    key = cache.kubeconfig_key("https://b", "iss#alice", "dev")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == cache.kubeconfig_key("https://b", "iss#alice", "dev")
    others = {
        cache.kubeconfig_key("https://b2", "iss#alice", "dev"),
        cache.kubeconfig_key("https://b", "iss#bob", "dev"),
        cache.kubeconfig_key("https://b", "iss#alice", "prod"),
    }
    assert key not in others and len(others) == 3
    # Separators matter: ("ab", "c") and ("a", "bc") are different keys.
    assert cache.digest("ab", "c") != cache.digest("a", "bc")


def test_write_makes_0600_files_in_0700_dirs(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "a" / "b" / "x.json"
    cache.write_json(path, {"k": "v"})
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert json.loads(path.read_text()) == {"k": "v"}


def test_existing_loose_dir_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    loose = tmp_path / "d"
    loose.mkdir(mode=0o777)
    cache.write_json(loose / "x.json", {})
    assert mode(loose) == 0o700


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    cache.write_json(path, {"old": 1})
    with pytest.raises(TypeError):
        cache.write_json(path, {"new": object()})  # not JSON: fails midway through writing
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


@pytest.mark.parametrize("content", ["{", "", "[1, 2]", "\x00\x01", '"text"'])
def test_corrupt_file_is_discarded_with_a_warning(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    warn = io.StringIO()
    assert cache.read_json(path, warn=warn) is None
    assert not path.exists()
    assert warn.getvalue() == f"kubectl-scipian: warning: discarding unreadable cache file {path}\n"


def test_missing_file_is_none_without_warning(tmp_path: Path) -> None:
    warn = io.StringIO()
    assert cache.read_json(tmp_path / "none.json", warn=warn) is None
    assert warn.getvalue() == ""


def test_lock_excludes_and_times_out(tmp_path: Path) -> None:
    lock = tmp_path / "k.lock"
    # flock is per open file: a second open (as another process would) must wait.
    with (
        cache.locked(lock, timeout=1),
        pytest.raises(CacheLockTimeout, match="try again"),
        cache.locked(lock, timeout=0.2),
    ):
        pass
    with cache.locked(lock, timeout=0.2):  # released when the holder left
        pass
    assert mode(lock) == 0o600


def login(sub: str = "s1", refresh: str | None = "r1") -> Login:
    return Login(
        issuer="https://idp",
        client_id="kubectl-scipian",
        scopes=["openid"],
        id_token="secret-id-token",
        refresh_token=refresh,
        issued_at=1000.0,
        expires_at=4600.0,
        subject=sub,
        email="alice@example.test",
        groups=["team-a"],
    )


def test_backend_cache_roundtrip_and_layout(tmp_path: Path, loose_umask: None) -> None:
    store = BackendCache(tmp_path, "https://b", warn=io.StringIO())
    assert store.load_login() is None
    store.save_login(login())
    assert store.load_login() == login()
    item = CachedKubeconfig("dev", login().user, 2000.0, 1100.0, "oidc:alice", "apiVersion: v1\n")
    store.save_kubeconfig(item)
    assert store.load_kubeconfig(login().user, "dev") == item
    assert store.load_kubeconfig(login().user, "prod") is None
    assert store.load_kubeconfig(login("s2").user, "dev") is None
    key = cache.kubeconfig_key("https://b", "https://idp#s1", "dev")
    assert store.kubeconfig_path(login().user, "dev").name == f"{key}.json"
    assert store.root == tmp_path / cache.digest("https://b")[:16]
    for path in tmp_path.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_repr_never_shows_tokens() -> None:
    assert "secret" not in repr(login())
    item = CachedKubeconfig("dev", "u", 2.0, 1.0, "", "token: secret")
    assert "secret" not in repr(item)


def test_record_with_missing_fields_is_discarded(tmp_path: Path) -> None:
    warn = io.StringIO()
    store = BackendCache(tmp_path, "https://b", warn=warn)
    store.save_login(login())
    record = json.loads(store.login_path.read_text())
    del record["idToken"]
    store.login_path.write_text(json.dumps(record))
    assert store.load_login() is None
    assert not store.login_path.exists()
    assert "discarding unreadable cache file" in warn.getvalue()


def test_record_filed_under_the_wrong_key_is_discarded(tmp_path: Path) -> None:
    store = BackendCache(tmp_path, "https://b", warn=io.StringIO())
    item = CachedKubeconfig("prod", "u", 2.0, 1.0, "", "x")
    cache.write_json(
        store.kubeconfig_path("u", "dev"),
        {"environment": "prod", "user": "u", "expiresAt": 2, "fetchedAt": 1, "kubeconfig": "x"},
    )
    assert store.load_kubeconfig("u", "dev") is None
    store.save_kubeconfig(item)
    assert store.load_kubeconfig("u", "prod") == item


@pytest.mark.parametrize(
    ("expires", "issued", "now", "margin", "expected"),
    [
        (1000, 100, 500, 60, True),
        (1000, 100, 950, 60, False),  # within the margin
        (1000, 100, 1001, 60, False),  # expired
        (1005, 1000, 1002, 30, True),  # 5 s lifetime: margin shrinks to a quarter of it
        (1005, 1000, 1004, 30, False),
    ],
)
def test_fresh(expires: float, issued: float, now: float, margin: float, expected: bool) -> None:
    assert fresh(expires, issued, now, margin) is expected

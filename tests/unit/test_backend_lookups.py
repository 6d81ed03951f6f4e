"""The lookup cache: entries live for their TTL, can be dropped, and ttl 0 disables it."""

from __future__ import annotations

from scipian_backend.environments.lookups import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entry_lives_for_its_ttl_only() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(5.0, clock)
    assert cache.get("dev") is None
    cache.put("dev", "client@rv1")
    clock.now += 4.9
    assert cache.get("dev") == "client@rv1"
    clock.now += 0.1
    assert cache.get("dev") is None  # expired at exactly ttl, and dropped
    clock.now -= 1
    assert cache.get("dev") is None


def test_put_restarts_the_ttl_and_replaces_the_value() -> None:
    clock = Clock()
    cache: TtlCache[str] = TtlCache(5.0, clock)
    cache.put("dev", "client@rv1")
    clock.now += 4
    cache.put("dev", "client@rv2")  # e.g. a re-read after the broker Secret changed
    clock.now += 4
    assert cache.get("dev") == "client@rv2"


def test_invalidate_drops_one_key() -> None:
    cache: TtlCache[str] = TtlCache(5.0, Clock())
    cache.put("dev", "a")
    cache.put("prod", "b")
    cache.invalidate("dev")
    cache.invalidate("missing")  # no error
    assert cache.get("dev") is None
    assert cache.get("prod") == "b"


def test_zero_ttl_caches_nothing() -> None:
    cache: TtlCache[str] = TtlCache(0, Clock())
    cache.put("dev", "a")
    assert cache.get("dev") is None

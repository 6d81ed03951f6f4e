"""The listing's Environment cache (environments/cache.py) as its watch feeds it: what it
keeps, in which order it lists, and what it tells the lookup cache (no cluster: the loop is
not started, and nothing here reads through)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from scipian_backend.environments.cache import EnvironmentCache
from scipian_backend.environments.lookups import TtlCache
from scipian_backend.environments.store import Store, parse_environment
from scipian_backend.wiring import _invalidator


def env(name: str, description: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "managedFields": [{"manager": "x"}]},
        "spec": {
            "description": description,
            "access": {"clusterRole": "view", "ttlSeconds": 900},
            "credentialsSecretRef": {"namespace": "scipian-system", "name": f"b-{name}"},
        },
    }


def cache_of(*names: str) -> tuple[EnvironmentCache, list[str | None]]:
    changes: list[str | None] = []
    api = client.ApiClient()
    cache = EnvironmentCache(api, Store(api), on_change=changes.append)
    cache._replace([parse_environment(env(n)) for n in names])
    return cache, changes


def test_a_list_makes_it_ready_and_lists_by_id() -> None:
    cache, changes = cache_of("b", "a", "c")
    assert cache.ready()
    assert [e.id for e in cache.every()] == ["a", "b", "c"]
    assert changes == [None]  # a (re-)list: every lookup pair goes


def test_events_add_change_and_remove() -> None:
    cache, changes = cache_of("a")
    cache._event("ADDED", env("b"))
    cache._event("MODIFIED", env("a", "changed"))
    assert [(e.id, e.description) for e in cache.every()] == [("a", "changed"), ("b", "")]
    assert cache.get("a") is not None and cache.get("a").description == "changed"  # type: ignore[union-attr]
    cache._event("DELETED", env("a"))
    assert [e.id for e in cache.every()] == ["b"]
    assert cache.cached("a") is None
    assert changes == [None, "b", "a", "a"]


def test_a_relist_drops_what_is_gone() -> None:
    cache, _ = cache_of("a", "b")
    cache._replace([parse_environment(env("b"))])
    assert [e.id for e in cache.every()] == ["b"]


def test_lookup_pairs_go_with_their_environment() -> None:
    """The production wiring: an event drops its environment's pair, a list drops all."""
    lookups: TtlCache[Any] = TtlCache(60)
    api = client.ApiClient()
    cache = EnvironmentCache(api, Store(api), on_change=_invalidator(lookups))
    cache._replace([parse_environment(env("a")), parse_environment(env("b"))])
    lookups.put("a", 1)
    lookups.put("b", 2)
    cache._event("MODIFIED", env("a", "changed"))
    assert (lookups.get("a"), lookups.get("b")) == (None, 2)
    cache._replace([parse_environment(env("b"))])
    assert lookups.get("b") is None

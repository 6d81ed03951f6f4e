"""The completer over a plugin cache laid out as the plugin lays it out (no backend login)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_scipian.access.cache import backend_dir
from kubectl_scipian.commands.completion import COMMON_TYPES, complete

BACKEND = "http://127.0.0.1:9"


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    root = backend_dir(tmp_path / "cache", BACKEND)
    (root / "kubeconfigs").mkdir(parents=True)
    (root / "kubeconfigs" / "abc.json").write_text(json.dumps({"environment": "dev"}))
    (root / "kubeconfigs" / "bad.json").write_text("{not json")
    discovery = root / "read" / "prod" / "discovery" / "127.0.0.1_6443"
    discovery.mkdir(parents=True)
    resources = [
        {"name": "pods", "preferred": True, "verbs": ["get", "list"]},
        {"name": "widgets", "preferred": True, "verbs": ["get"]},
        {"name": "oldwidgets", "preferred": False, "verbs": ["get"]},
        {"name": "bindings", "preferred": True, "verbs": ["create"]},
    ]
    (discovery / "resources.json").write_text(json.dumps({"format": 1, "resources": resources}))
    return {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), "SCIPIAN_BACKEND_URL": BACKEND}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["d"], ["deny-request", "dev"]),
        (["de"], ["deny-request", "dev"]),
        (["dev"], ["dev"]),
        (["l"], ["login", "logout"]),
        (
            [""],
            [
                "login",
                "logout",
                "whoami",
                "envs",
                "promote",
                "promotions",
                "approve",
                "cancel",
                "requests",
                "approve-request",
                "deny-request",
                "revoke-request",
                "version",
                "completion",
                "alias",
                "dev",
                "prod",
            ],
        ),
        (
            ["dev", ""],
            [
                "get",
                "describe",
                "logs",
                "kubeconfig",
                "helm",
                "credential",
                "request",
                "ack-break-glass",
            ],
        ),
        (["dev", "helm", ""], ["list", "history", "status", "rollback"]),
        (["dev", "helm", "h"], ["history"]),
        (["promote", "shop-web", "--th"], ["--through"]),
        (["promote", "shop-web", "--through", "dev,p"], ["dev,prod"]),
        (["promote", "--v"], ["--version", "--values", "--values-for"]),
        (["approve", "x", "--step", ""], ["dev", "prod"]),
        (["approve", "x", "--d"], ["--diff-digest"]),
        (["promotions", "x", "--diff", "p"], ["prod"]),
        (["promotions", "x", "--w"], ["--watch"]),
        (["cancel", "x", "--"], ["--reason"]),
        (["prod", "request", ""], ["read", "deploy"]),
        (["prod", "request", "deploy", "--f"], ["--for"]),
        (["prod", "request", "--c"], ["--cancel"]),
        (["requests", "-o", ""], ["wide", "json", "yaml"]),
        (["requests", "--"], ["--output"]),
        (["approve-request", "x", "--"], ["--reason"]),
        (["approve-request", ""], []),  # names from the backend: no login cached here
        (["prod", "request", "--cancel", ""], []),
        (["revoke-request", "x", "--r"], ["--reason"]),
        (["promotions", "-o", ""], ["wide", "json", "yaml"]),
        (["dev", "des"], ["describe"]),
        (["prod", "get", ""], ["pods", "widgets"]),
        (["prod", "describe", "w"], ["widgets"]),
        (["-n", "shop", "prod", "get", "p"], ["pods"]),
        (["prod", "get", "pods", ""], []),
        (["prod", "get", "pods", "-o", "j"], ["json", "jsonpath="]),
        (["dev", "logs", "--t"], ["--tail"]),
        (["completion", ""], ["bash", "zsh", "fish"]),
        (["logout", "p"], ["prod"]),
        (["--env", "d"], ["dev"]),
        (["version", ""], []),
    ],
)
def test_candidates(environ: dict[str, str], words: list[str], expected: list[str]) -> None:
    assert complete(words, environ) == (expected, 4)


def test_types_without_a_discovery_cache(environ: dict[str, str]) -> None:
    assert complete(["dev", "get", ""], environ) == (list(COMMON_TYPES), 4)


def test_a_file_option_completes_files(environ: dict[str, str]) -> None:
    assert complete(["--certificate-authority", ""], environ) == ([], 0)
    assert complete(["dev", "kubeconfig", "--output", ""], environ) == ([], 0)


def test_no_backend_configured(tmp_path: Path) -> None:
    assert complete(["dev"], {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path)}) == ([], 4)


def test_names_need_an_unexpired_cached_kubeconfig(environ: dict[str, str], tmp_path: Path) -> None:
    """Object names come only from a cached kubeconfig that has not expired; a server that
    does not answer gives no candidates and no error."""
    import time

    from kubectl_scipian.commands.completion import Sources

    kubeconfig = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )
    sources = Sources(environ)
    assert sources.root is not None
    kdir = sources.root / "kubeconfigs"
    kdir.mkdir(parents=True, exist_ok=True)
    record = {"environment": "stage", "kubeconfig": kubeconfig, "fetchedAt": time.time()}
    (kdir / "old.json").write_text(json.dumps({**record, "expiresAt": time.time() - 1}))
    assert sources.cached_kubeconfig("stage") is None
    (kdir / "new.json").write_text(json.dumps({**record, "expiresAt": time.time() + 600}))
    assert sources.cached_kubeconfig("stage") is not None
    assert sources.cached_kubeconfig("other") is None
    # 127.0.0.1:9 refuses: no names, no exception
    assert complete(["stage", "get", "pods", ""], environ) == ([], 4)
    assert complete(["stage", "get", "pods", "-n", ""], environ) == ([], 4)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["dev", "get", "pods", "-n", "x"], "x"),
        (["dev", "-n=a", "get", "--namespace", "b"], "b"),
        (["dev", "--namespace=c", "get"], "c"),
        (["dev", "get", "pods"], None),
    ],
)
def test_namespace_of(words: list[str], expected: str | None) -> None:
    from kubectl_scipian.commands.completion import _namespace_of

    assert _namespace_of(words) == expected

"""The plugin's policy for issued kubeconfigs (kubectl_scipian/backend/issued.py): JSON
only, the keys a Scipian kubeconfig holds, a bearer token over https."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from kubectl_scipian.backend.issued import as_json, problem


def mapping(
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": cluster or {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "dev", "user": user or {"token": "t0ken"}}],
        "contexts": [{"name": "dev", "context": context or {"cluster": "dev", "user": "dev"}}],
        "current-context": "dev",
        **(top or {}),
    }


def doc(
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> str:
    return json.dumps(mapping(user, cluster, context, top), indent=2)


def test_what_the_backend_issues_is_accepted() -> None:
    ca = {"server": "https://127.0.0.1:1", "certificate-authority-data": "LS0t"}
    assert problem("dev", "dev", doc(cluster=ca)) is None
    assert problem("dev", "dev", doc()) is None


CASES = [
    ("prod", doc(), "another environment"),
    ("dev", ": : :\n\t- [", "not JSON"),
    ("dev", '"just a string"', "not a kubeconfig"),
    ("dev", '{"clusters": 3, "users": [], "contexts": []}', "not a kubeconfig"),
    ("dev", '{"clusters": [], "users": [], "contexts": []}', "exactly one"),
    ("dev", "[" * 100_000, "not JSON"),  # RecursionError, not a traceback
    ("dev", doc(top={"x-bomb": [[["lol"] * 9] * 9] * 9}), "top-level key x-bomb"),
    ("dev", doc(top={"x\u001b]52;c;aGk=\u0007": 1}), "top-level key x\\x1b]52"),
    ("dev", doc(context={"cluster": "dev", "user": "dev", "as": "root"}), "context has as"),
    ("dev", doc(user={"exec": {"command": "/bin/sh", "args": ["-c", "id"]}}), "exec"),
    ("dev", doc(user={"token": "t", "exec": {"command": "sh"}}), "exec"),
    ("dev", doc(user={"auth-provider": {"name": "oidc"}}), "auth-provider"),
    ("dev", doc(user={"client-certificate": "/etc/passwd"}), "client-certificate"),
    ("dev", doc(user={"client-key-data": "LS0t", "token": "t"}), "client-key-data"),
    ("dev", doc(user={"tokenFile": "/etc/shadow"}), "tokenFile"),
    ("dev", doc(user={"username": "a", "password": "b"}), "password"),
    ("dev", doc(user={"token": "t", "as": "system:admin"}), "as"),
    ("dev", doc(user={"token": ""}), "no token"),
    ("dev", doc(user={"token": 42}), "no token"),
    ("dev", doc(cluster={"server": "http://10.0.0.1"}), "https"),
    ("dev", doc(cluster={"server": "file:///etc/passwd"}), "https"),
    ("dev", doc(cluster={"server": ["https://x"]}), "https"),
    ("dev", doc(cluster={"certificate-authority-data": "LS0t"}), "https"),
    (
        "dev",
        doc(cluster={"server": "https://x", "certificate-authority": "/etc/shadow"}),
        "certificate-authority",
    ),
    (
        "dev",
        doc(cluster={"server": "https://x", "insecure-skip-tls-verify": True}),
        "insecure-skip-tls-verify",
    ),
    ("dev", doc(cluster={"server": "https://x", "proxy-url": "http://evil"}), "proxy-url"),
]


@pytest.mark.parametrize(("env", "text", "why"), CASES)
def test_refused(env: str, text: str, why: str) -> None:
    reason = problem("dev", env, text)
    assert reason is not None and why in reason
    assert "t0ken" not in reason and "/etc" not in reason  # never quotes the document


ALIAS_BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""


@pytest.mark.parametrize(
    "text",
    [yaml.safe_dump(mapping()), yaml.safe_dump(mapping()) + ALIAS_BOMB],
    ids=["yaml", "yaml-alias-bomb"],
)
def test_yaml_is_refused(text: str) -> None:
    """The backend sends JSON; a YAML kubeconfig (an alias bomb under an unchecked key
    exploded in as_json's re-encoding) is refused before anything else reads it."""
    reason = problem("dev", "dev", text)
    assert reason == "it is not JSON (the plugin accepts no YAML kubeconfig)"


def test_accepted_kubeconfig_is_cached_as_compact_json() -> None:
    ca = {"server": "https://127.0.0.1:1", "certificate-authority-data": "LS0t"}
    text = doc(cluster=ca)
    assert problem("dev", "dev", text) is None
    assert json.loads(as_json(text)) == json.loads(text)
    assert "\n" not in as_json(text)

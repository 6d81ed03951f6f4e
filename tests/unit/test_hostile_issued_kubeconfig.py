"""The plugin's policy for issued kubeconfigs (kubectl_scipian/backend/issued.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from kubectl_scipian.backend.issued import as_json, problem


def doc(user: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "dev", "cluster": cluster or {"server": "https://10.0.0.1:6443"}}
            ],
            "users": [{"name": "dev", "user": user or {"token": "t0ken"}}],
            "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
            "current-context": "dev",
        }
    )


def test_what_the_backend_issues_is_accepted() -> None:
    ca = {"server": "https://127.0.0.1:1", "certificate-authority-data": "LS0t"}
    assert problem("dev", "dev", doc(cluster=ca)) is None
    assert problem("dev", "dev", doc()) is None


CASES = [
    ("prod", doc(), "another environment"),
    ("dev", ": : :\n\t- [", "not valid YAML"),
    ("dev", "just a string", "not a kubeconfig"),
    ("dev", "clusters: 3\nusers: []\ncontexts: []", "not a kubeconfig"),
    ("dev", "clusters: []\nusers: []\ncontexts: []", "exactly one"),
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


def _json(text: str) -> str:
    try:
        return json.dumps(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


@pytest.mark.parametrize(("env", "text", "why"), CASES)
def test_refused_as_json(env: str, text: str, why: str) -> None:
    """The backend sends JSON text; the same policy holds for it."""
    reason = problem("dev", env, _json(text))
    assert reason is not None and why in reason
    assert "t0ken" not in reason and "/etc" not in reason


def test_json_and_yaml_read_alike() -> None:
    ca = {"server": "https://127.0.0.1:1", "certificate-authority-data": "LS0t"}
    text = doc(cluster=ca)
    assert problem("dev", "dev", _json(text)) is None
    assert json.loads(as_json(text)) == json.loads(as_json(_json(text))) == yaml.safe_load(text)

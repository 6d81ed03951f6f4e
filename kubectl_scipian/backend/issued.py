"""What the plugin accepts from the backend as an issued kubeconfig (pure).

The plugin cannot know an Environment's real server (the backend is the only source), but
it can refuse what no Scipian kubeconfig ever holds and what would turn a hostile or broken
backend into code execution, local file reads or a token sent in clear:

- JSON text (what the backend sends), never YAML: a YAML document can hold an alias bomb
  that explodes when the plugin re-encodes it;
- only a kubeconfig's top-level keys and a context's keys;
- exactly the environment asked for, one cluster, one user, one context;
- the user has a bearer ``token`` and nothing else: no ``exec``, ``auth-provider``,
  ``tokenFile``, client certificate or key (inline or path), basic auth, impersonation;
- the cluster's ``server`` is ``https://``; no ``certificate-authority`` *path*
  (``certificate-authority-data`` only), no ``insecure-skip-tls-verify``, no ``proxy-url``.

`problem()` returns a short reason (never quoting the document: it holds a token) or None.
The one reader of issued kubeconfigs: `parse`/`document` for the text, `entries` for what its
current context names (the read commands' target, the exec credential, the exec kubeconfig).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubectl_scipian.errors import BackendError

USER_KEYS = {"token"}
CLUSTER_KEYS = {"server", "certificate-authority-data", "tls-server-name", "extensions"}
TOP_KEYS = {
    "apiVersion",
    "kind",
    "clusters",
    "users",
    "contexts",
    "current-context",
    "preferences",
    "extensions",
}
CONTEXT_KEYS = {"cluster", "user", "namespace", "extensions"}


def parse(kubeconfig: str) -> Any:
    """The document, JSON only (the backend sends JSON; YAML is refused). Raises ValueError
    (RecursionError, too deep, included)."""
    import json

    try:
        return json.loads(kubeconfig)
    except RecursionError:
        raise ValueError("too deep") from None


def document(kubeconfig: str) -> dict[str, Any]:
    """The cached (accepted) kubeconfig as a mapping; BackendError when it is not one."""
    try:
        doc = parse(kubeconfig)
    except ValueError:
        # No detail: a parser's error quotes the document, and the document holds a token.
        raise BackendError("the backend issued a kubeconfig that is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BackendError("the backend issued a kubeconfig that is not a mapping")
    return doc


def entries(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(context, cluster, user) of the current context (else the first one); {} for what
    is missing."""
    contexts = _items(doc, "contexts")
    name = doc.get("current-context")
    context = next((c for c in contexts if c.get("name") == name), contexts[0] if contexts else {})
    body = _mapping(context.get("context"))
    cluster = next((c for c in _items(doc, "clusters") if c.get("name") == body.get("cluster")), {})
    user = next((u for u in _items(doc, "users") if u.get("name") == body.get("user")), {})
    return body, _mapping(cluster.get("cluster")), _mapping(user.get("user"))


def current_entries(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cluster, user) of the current context; BackendError when either is missing."""
    _, cluster, user = entries(doc)
    if not cluster or not user:
        raise BackendError("the backend issued a kubeconfig without a usable context")
    return cluster, user


def token_of(doc: Mapping[str, Any]) -> str:
    _, user = current_entries(doc)
    token = user.get("token")
    if not isinstance(token, str) or not token:
        raise BackendError("the backend issued a kubeconfig without a bearer token")
    return token


def _items(doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def problem(env_id: str, environment: str, kubeconfig: str) -> str | None:
    if environment != env_id:
        return "it is for another environment"
    try:
        doc = parse(kubeconfig)
    except ValueError:
        return "it is not JSON (the plugin accepts no YAML kubeconfig)"
    if not isinstance(doc, dict):
        return "it is not a kubeconfig"
    extra = sorted(set(doc) - TOP_KEYS)
    if extra:
        return f"it has a top-level key {_shown(extra[0])}"
    clusters, users, contexts = (_list(doc, k) for k in ("clusters", "users", "contexts"))
    if clusters is None or users is None or contexts is None:
        return "it is not a kubeconfig"
    if (len(clusters), len(users), len(contexts)) != (1, 1, 1):
        return "it does not hold exactly one cluster, user and context"
    cluster, user = _body(clusters[0], "cluster"), _body(users[0], "user")
    context = _body(contexts[0], "context")
    if cluster is None or user is None or context is None:
        return "it is not a kubeconfig"
    extra = sorted(set(context) - CONTEXT_KEYS)
    if extra:
        return f"its context has {_shown(extra[0])}"
    extra = sorted(set(user) - USER_KEYS)
    if extra:
        return f"its user has {_shown(extra[0])} (only a bearer token is accepted)"
    if not isinstance(user.get("token"), str) or not user["token"]:
        return "its user has no token"
    extra = sorted(set(cluster) - CLUSTER_KEYS)
    if extra:
        return f"its cluster has {_shown(extra[0])}"
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        return "its server is not an https:// URL"
    return None


def _shown(key: str) -> str:
    """A key of the document, bounded and escaped (it came from the backend)."""
    from kubectl_scipian.support.untrusted import visible

    return visible(key[:40])


def _list(doc: dict[str, Any], key: str) -> list[Any] | None:
    value = doc.get(key)
    return value if isinstance(value, list) else None


def _body(item: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get(key), dict):
        return None
    body: dict[str, Any] = item[key]
    return body


def as_json(kubeconfig: str) -> str:
    """The accepted kubeconfig as compact JSON (which is YAML too, for kubectl and helm)."""
    import json

    try:
        return json.dumps(parse(kubeconfig), separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return kubeconfig

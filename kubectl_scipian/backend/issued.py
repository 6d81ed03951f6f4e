"""What the plugin accepts from the backend as an issued kubeconfig (pure).

The plugin cannot know an Environment's real server (the backend is the only source), but
it can refuse what no Scipian kubeconfig ever holds and what would turn a hostile or broken
backend into code execution, local file reads or a token sent in clear:

- exactly the environment asked for, one cluster, one user, one context;
- the user has a bearer ``token`` and nothing else: no ``exec``, ``auth-provider``,
  ``tokenFile``, client certificate or key (inline or path), basic auth, impersonation;
- the cluster's ``server`` is ``https://``; no ``certificate-authority`` *path*
  (``certificate-authority-data`` only), no ``insecure-skip-tls-verify``, no ``proxy-url``.

`problem()` returns a short reason (never quoting the document: it holds a token) or None.
"""

from __future__ import annotations

from typing import Any

USER_KEYS = {"token"}
CLUSTER_KEYS = {"server", "certificate-authority-data", "tls-server-name", "extensions"}


def parse(kubeconfig: str) -> Any:
    """The document: JSON (what the backend sends) or, from an older backend, YAML.
    Raises ValueError."""
    import json

    try:
        return json.loads(kubeconfig)
    except ValueError:
        pass
    import yaml  # comes with the kubernetes client; only for a YAML kubeconfig

    try:
        return yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        raise ValueError("not YAML") from None


def problem(env_id: str, environment: str, kubeconfig: str) -> str | None:
    if environment != env_id:
        return "it is for another environment"
    try:
        doc = parse(kubeconfig)
    except ValueError:
        return "it is not valid YAML"
    if not isinstance(doc, dict):
        return "it is not a kubeconfig"
    clusters, users, contexts = (_list(doc, k) for k in ("clusters", "users", "contexts"))
    if clusters is None or users is None or contexts is None:
        return "it is not a kubeconfig"
    if (len(clusters), len(users), len(contexts)) != (1, 1, 1):
        return "it does not hold exactly one cluster, user and context"
    cluster, user = _body(clusters[0], "cluster"), _body(users[0], "user")
    if cluster is None or user is None:
        return "it is not a kubeconfig"
    extra = sorted(set(user) - USER_KEYS)
    if extra:
        return f"its user has {extra[0]} (only a bearer token is accepted)"
    if not isinstance(user.get("token"), str) or not user["token"]:
        return "its user has no token"
    extra = sorted(set(cluster) - CLUSTER_KEYS)
    if extra:
        return f"its cluster has {extra[0]}"
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        return "its server is not an https:// URL"
    return None


def _list(doc: dict[str, Any], key: str) -> list[Any] | None:
    value = doc.get(key)
    return value if isinstance(value, list) else None


def _body(item: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get(key), dict):
        return None
    body: dict[str, Any] = item[key]
    return body


def as_json(kubeconfig: str) -> str:
    """The accepted kubeconfig as compact JSON, which is YAML too: cached this way, the
    read path parses it with `json` and never imports a YAML parser (~10 ms of start-up).
    Anything JSON cannot carry is kept as the text it came as."""
    import json

    try:
        return json.dumps(parse(kubeconfig), separators=(",", ":"))
    except (TypeError, ValueError):
        return kubeconfig

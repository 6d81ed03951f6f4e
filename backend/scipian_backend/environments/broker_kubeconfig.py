"""What the backend accepts as a broker kubeconfig, at `register` and whenever it loads one
from mgmt (security review L8).

The kubernetes package's loader honours `exec` (a command run in the backend),
`auth-provider`, `tokenFile` and certificate *paths* (files read, the CA copied into every
issued kubeconfig). Whoever can write a Secret in the broker Secrets' namespace must not
get code execution or a file out of the backend, so only what `register` itself writes is
accepted, the way the plugin checks issued kubeconfigs (kubectl_scipian/backend/issued.py):

- one cluster, one user, one context (the current one, when named);
- the user has an inline bearer `token`, or an inline client certificate and key, and
  nothing else: no `exec`, `auth-provider`, `tokenFile`, paths, basic auth, impersonation;
- the cluster's `server` is `https://`, its CA inline (`certificate-authority-data`) or
  absent (system roots); no `certificate-authority` path, `insecure-skip-tls-verify`,
  `proxy-url`.

`problem()` returns a short reason, never quoting the document (it holds a credential).
"""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client

TOP_KEYS = {"apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"}
CLUSTER_KEYS = {"server", "certificate-authority-data", "tls-server-name"}
CONTEXT_KEYS = {"cluster", "user", "namespace"}
TOKEN_USER = {"token"}
CERTIFICATE_USER = {"client-certificate-data", "client-key-data"}


class BrokerKubeconfigRefused(ValueError):
    """The message is a reason safe to print: it never quotes the kubeconfig."""


def parse(text: str) -> dict[str, Any]:
    """The accepted document; BrokerKubeconfigRefused otherwise."""
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (yaml.YAMLError, RecursionError):
        raise BrokerKubeconfigRefused("it is not valid YAML") from None
    if not isinstance(doc, dict):
        raise BrokerKubeconfigRefused("it is not a kubeconfig")
    reason = problem(doc)
    if reason is not None:
        raise BrokerKubeconfigRefused(reason)
    return doc


def problem(doc: dict[str, Any]) -> str | None:
    extra = sorted(str(k) for k in set(doc) - TOP_KEYS)
    if extra:
        return f"it has {extra[0]}"
    if doc.get("preferences") not in (None, {}):
        return "it has preferences"
    clusters, users, contexts = (_list(doc, k) for k in ("clusters", "users", "contexts"))
    if not (len(clusters) == len(users) == len(contexts) == 1):
        return "it does not hold exactly one cluster, user and context"
    cluster = _body(clusters[0], "cluster")
    user = _body(users[0], "user")
    context = _body(contexts[0], "context")
    if cluster is None or user is None or context is None:
        return "it is not a kubeconfig"
    current = doc.get("current-context")
    if current is not None and current != contexts[0].get("name"):
        return "its current context is not its context"
    extra = sorted(str(k) for k in set(context) - CONTEXT_KEYS)
    if extra:
        return f"its context has {extra[0]}"
    if set(user) not in (TOKEN_USER, CERTIFICATE_USER):
        odd = sorted(str(k) for k in set(user) - TOKEN_USER - CERTIFICATE_USER)
        return (
            f"its user has {odd[0]} (only an inline token or client certificate is accepted)"
            if odd
            else "its user has neither an inline token nor an inline client certificate and key"
        )
    if not all(isinstance(v, str) and v for v in user.values()):
        return "its user's credential is not text"
    extra = sorted(str(k) for k in set(cluster) - CLUSTER_KEYS)
    if extra:
        return f"its cluster has {extra[0]}"
    if not all(isinstance(v, str) for v in cluster.values()):
        return "its cluster's fields are not text"
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        return "its server is not an https:// URL"
    return None


def api_client(text: str) -> client.ApiClient:
    """A client from an accepted broker kubeconfig (BrokerKubeconfigRefused otherwise). The
    loader then sees inline data only: it writes it to temporary files of its own."""
    from scipian_backend import kube

    return kube.from_kubeconfig_dict(parse(text))


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _body(item: Any, key: str) -> dict[str, Any] | None:
    if not isinstance(item, dict) or not isinstance(item.get(key), dict):
        return None
    body: dict[str, Any] = item[key]
    return body

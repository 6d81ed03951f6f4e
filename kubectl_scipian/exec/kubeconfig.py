"""The exec credential mechanism, pure: ExecCredential documents and exec kubeconfigs.

kubectl, helm, k9s and the Python client run the `exec` command of a kubeconfig user and
read an ExecCredential from its stdout (client.authentication.k8s.io). Here: what that
document and that kubeconfig look like, and how our entries merge into someone's file.
Nothing here touches the network or the disk.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from kubectl_scipian.errors import BackendError, ConfigError

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
API_VERSIONS = (V1, V1BETA1)
EXEC_INFO_VAR = "KUBERNETES_EXEC_INFO"
COMMAND = "kubectl-scipian"
INSTALL_HINT = (
    "kubectl-scipian is the Scipian kubectl plugin: install it with "
    "`kubectl krew install scipian` (or pip) and log in with `kubectl scipian login`."
)


def exec_info(environ: Mapping[str, str]) -> tuple[str, bool | None]:
    """(apiVersion to answer in, spec.interactive or None) from KUBERNETES_EXEC_INFO.

    No variable (a person running the command) means v1 and "ask the terminal".
    """
    raw = environ.get(EXEC_INFO_VAR)
    if not raw:
        return V1, None
    try:
        info = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{EXEC_INFO_VAR} is not JSON") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{EXEC_INFO_VAR} is not a JSON object")
    version = info.get("apiVersion") or V1
    if version not in API_VERSIONS:
        raise ConfigError(
            f"{EXEC_INFO_VAR} asks for {version}; supported: {', '.join(API_VERSIONS)}"
        )
    spec = info.get("spec")
    interactive = spec.get("interactive") if isinstance(spec, dict) else None
    return str(version), interactive if isinstance(interactive, bool) else None


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_credential(api_version: str, token: str, expires_at: float) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {},
        "status": {"token": token, "expirationTimestamp": rfc3339(expires_at)},
    }


def handout_expiry(expires_at: float, fetched_at: float, now: float, margin: float) -> float:
    """When clients should run us again: a little before the token dies, as our cache would.

    Never in the past: a client given a past expiry would run the plugin on every request.
    """
    early = expires_at - min(margin, max(expires_at - fetched_at, 0.0) / 4)
    return early if early > now else expires_at


def current_entries(kubeconfig: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cluster, user) of the issued kubeconfig's current context."""
    try:
        name = kubeconfig.get("current-context")
        contexts = {c["name"]: c["context"] for c in kubeconfig.get("contexts") or []}
        context = contexts[name] if name in contexts else next(iter(contexts.values()))
        clusters = {c["name"]: c["cluster"] for c in kubeconfig.get("clusters") or []}
        users = {u["name"]: u["user"] for u in kubeconfig.get("users") or []}
        cluster, user = clusters[context["cluster"]], users[context["user"]]
    except (KeyError, TypeError, StopIteration):
        raise BackendError("the backend issued a kubeconfig without a usable context") from None
    if not isinstance(cluster, dict) or not isinstance(user, dict):
        raise BackendError("the backend issued a kubeconfig without a usable context")
    return cluster, user


def token_of(kubeconfig: Mapping[str, Any]) -> str:
    _, user = current_entries(kubeconfig)
    token = user.get("token")
    if not isinstance(token, str) or not token:
        raise BackendError("the backend issued a kubeconfig without a bearer token")
    return token


def entry_names(env_id: str) -> tuple[str, str, str]:
    """(cluster, user, context): the context is the environment's name, as people type it."""
    return f"scipian-{env_id}", f"scipian-{env_id}", env_id


def exec_kubeconfig(
    env_id: str,
    cluster: Mapping[str, Any],
    *,
    backend_url: str,
    certificate_authority: str | None = None,
    config_dir: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig for ENV whose user runs `kubectl-scipian ... credential`: no token in it."""
    cluster_name, user_name, context_name = entry_names(env_id)
    args = ["--backend", backend_url]
    if certificate_authority:
        args += ["--certificate-authority", certificate_authority]
    args += ["--env", env_id, "credential"]
    exec_config: dict[str, Any] = {
        "apiVersion": V1,
        "command": COMMAND,
        "args": args,
        "installHint": INSTALL_HINT,
        "interactiveMode": "IfAvailable",
        "provideClusterInfo": False,
    }
    if config_dir:
        # A cache moved away from the default stays found when another tool runs us.
        exec_config["env"] = [{"name": "KUBECTL_SCIPIAN_CONFIG_DIR", "value": config_dir}]
    server_side = {k: cluster[k] for k in ("server", "certificate-authority-data") if k in cluster}
    if "server" not in server_side:
        raise BackendError("the backend issued a kubeconfig without a server")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": server_side}],
        "users": [{"name": user_name, "user": {"exec": exec_config}}],
        "contexts": [
            {"name": context_name, "context": {"cluster": cluster_name, "user": user_name}}
        ],
        "current-context": context_name,
    }


class MergeConflict(ConfigError):
    pass


def _named(items: Any, name: str) -> int | None:
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == name:
            return i
    return None


def merge(existing: Mapping[str, Any] | None, ours: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with our cluster, user and context added or replaced; nothing else changes.

    An entry of the same name that is not ours (a user not run by kubectl-scipian, a context
    pointing elsewhere) is a conflict: someone else's configuration is never overwritten.
    The current context is set only when the file has none.
    """
    doc: dict[str, Any] = copy.deepcopy(dict(existing)) if existing else {}
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        items = doc.get(section)
        if items is None:
            items = doc[section] = []
        if not isinstance(items, list):
            raise ConfigError(f"the kubeconfig's {section} is not a list")
        for entry in ours[section]:
            at = _named(items, entry["name"])
            if at is None:
                items.append(copy.deepcopy(entry))
                continue
            if not _is_ours(section, items[at], entry):
                raise MergeConflict(
                    f"{section[:-1]} {entry['name']!r} already exists and is not "
                    "kubectl-scipian's; not overwritten (rename it, or use --output FILE)"
                )
            items[at] = copy.deepcopy(entry)
    if not doc.get("current-context"):
        doc["current-context"] = ours["current-context"]
    return doc


def _is_ours(section: str, found: dict[str, Any], entry: Mapping[str, Any]) -> bool:
    body = found.get(section[:-1])
    if not isinstance(body, dict):
        return False
    if section == "users":
        exec_config = body.get("exec")
        return isinstance(exec_config, dict) and exec_config.get("command") == COMMAND
    if section == "contexts":
        mine = entry["context"]
        return bool(body.get("cluster") == mine["cluster"] and body.get("user") == mine["user"])
    return True  # a cluster named scipian-ENV: the name is ours

"""The exec kubeconfig: a kubeconfig whose user runs `kubectl-scipian ... credential`.

kubectl, helm, k9s and the Python client run the `exec` command of a kubeconfig user and
read an ExecCredential (exec/credential.py) from its stdout. Here: what that kubeconfig
looks like, how our entries merge into someone's file (pure), and writing it: to a new
file, or merged into $KUBECONFIG's first file under a lock, keeping a backup.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian.errors import BackendError, ConfigError
from kubectl_scipian.exec.credential import V1
from kubectl_scipian.support.files import write_private

COMMAND = "kubectl-scipian"
INSTALL_HINT = (
    "kubectl-scipian is the Scipian kubectl plugin: install it with "
    "`kubectl krew install scipian` (or pip) and log in with `kubectl scipian login`."
)


def entry_names(env_id: str, level: str = "read") -> tuple[str, str, str]:
    """(cluster, user, context): the context is the environment's name, as people type it;
    the deploy level's are `ENV-deploy`, so a merge never overwrites the read entries."""
    name = f"{env_id}-deploy" if level == "deploy" else env_id
    return f"scipian-{name}", f"scipian-{name}", name


def exec_kubeconfig(
    env_id: str,
    cluster: Mapping[str, Any],
    *,
    backend_url: str,
    certificate_authority: str | None = None,
    config_dir: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig for ENV whose user runs `kubectl-scipian ... credential`: no token in it.
    With a `reason`, the deploy level: its credential calls carry `--level deploy --reason`."""
    level = "deploy" if reason is not None else "read"
    cluster_name, user_name, context_name = entry_names(env_id, level)
    args = ["--backend", backend_url]
    if certificate_authority:
        args += ["--certificate-authority", certificate_authority]
    args += ["--env", env_id, "credential"]
    if reason is not None:
        args += ["--level", "deploy", "--reason", reason]
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


# -- writing it --------------------------------------------------------------------------


def dump(doc: Mapping[str, Any]) -> str:
    import yaml  # comes with the kubernetes client

    return str(yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False))


def merge_target(environ: Mapping[str, str]) -> Path:
    """kubectl's rule: the first file of $KUBECONFIG, else ~/.kube/config."""
    for part in (environ.get("KUBECONFIG") or "").split(os.pathsep):
        if part:
            return Path(part).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".kube" / "config"


def merge_into(target: Path, ours: Mapping[str, Any]) -> None:
    """Our entries added to or updated in `target` under a lock; the previous file kept as
    `target`.bak."""
    import shutil  # only for --merge's backup

    import yaml

    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _dir_lock(target.parent):
        existing: Any = None
        if target.exists():
            try:
                existing = yaml.safe_load(target.read_text())
            except (OSError, yaml.YAMLError) as err:
                # The mark only: the file may hold tokens of other tools.
                raise ConfigError(f"cannot read {target} ({type(err).__name__})") from None
            if existing is not None and not isinstance(existing, dict):
                raise ConfigError(f"{target} is not a kubeconfig")
        merged = merge(existing, ours)
        if target.exists():
            backup = target.with_name(target.name + ".bak")
            shutil.copy2(target, backup)
            os.chmod(backup, 0o600)
        write(target, dump(merged))


def write(path: Path, text: str) -> None:
    """Atomic and 0600, like the cache's files, in a directory the user chose (its mode is
    theirs); an unwritable place is one clear line."""
    try:
        write_private(path, text, private_dir=False)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or type(err).__name__}") from None


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    # flock on the directory itself: two merges at once must not lose an entry, and no
    # lock file is left beside the user's kubeconfig.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)

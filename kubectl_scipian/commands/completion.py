"""`kubectl scipian completion bash|zsh|fish`, and the completer behind every shell's script.

    kubectl scipian completion bash                   the script to source
    kubectl scipian completion __complete WORD...     candidates for the last WORD

`__complete` speaks cobra's protocol, the one kubectl (>= 1.26) expects from
`kubectl_complete-scipian`: one candidate per line, then `:DIRECTIVE` (4: no file names;
0: the shell's default). The words are those after `kubectl scipian`; the last one is
the word being completed ("" for a fresh one).

Where candidates come from, never prompting and never failing loudly:
- environment ids: the backend's `GET /api/v1/environments` when a login is cached and
  unexpired (timeout COMPLETE_TIMEOUT); else the environments of cached kubeconfigs and
  read caches;
- resource types: the read commands' discovery cache of that environment
  (`cache/<backend>/read/<env>/discovery/<host_port>/resources.json`), else COMMON_TYPES;
- access request names (`approve-request <TAB>`, `ENV request --cancel <TAB>`, ...): the
  backend's `GET /api/v1/accessrequests` likewise, nothing without a cached login;
- object names (`ENV get|describe TYPE <TAB>`, `ENV logs <TAB>`) and namespaces
  (`-n <TAB>`): the cluster itself, with the environment's cached kubeconfig only while it
  is unexpired (kubectl_scipian.read.names: one deadline of 2 s, nothing on failure).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubectl_scipian.commands import PER_ENV, READ_VERBS, TOP
from kubectl_scipian.context import Context

COMPLETE_TIMEOUT = 1.5
COMPLETE_MARGIN = 5.0  # a kubeconfig this close to expiry is not worth a request
NO_FILES, DEFAULT = 4, 0
SHELLS = ("bash", "zsh", "fish")
TOP_COMMANDS = tuple(TOP)
ENV_VERBS = (*READ_VERBS, *PER_ENV)
# kubectl_scipian.helm.flags (and aliases)
HELM_SUBCOMMANDS = ("list", "history", "status", "rollback")
COMMON_TYPES = (
    "configmaps",
    "cronjobs",
    "daemonsets",
    "deployments",
    "events",
    "ingresses",
    "jobs",
    "namespaces",
    "nodes",
    "persistentvolumeclaims",
    "pods",
    "replicasets",
    "secrets",
    "serviceaccounts",
    "services",
    "statefulsets",
)
# Options whose value is the next word (ours and the read verbs' kubectl flags).
VALUE_OPTIONS = frozenset(
    (
        "--backend",
        "--certificate-authority",
        "--env",
        "-n",
        "--namespace",
        "-o",
        "--output",
        "-l",
        "--selector",
        "-c",
        "--container",
        "--field-selector",
        "--sort-by",
        "--tail",
        "--since",
        "--since-time",
        "--timeout",
        "--chunk-size",
        "--level",
        "--reason",
        # promote, approve (kubectl_scipian.promotions.flags)
        "--chart",
        "--version",
        "--through",
        "-f",
        "--values",
        "--values-for",
        "--set",
        "--set-for",
        "--soak",
        "--helm",
        "--step",
        "--diff",
        "--diff-digest",
        # ENV request (kubectl_scipian.accessrequests.flags)
        "--for",
        "--cancel",
    )
)
OUTPUTS = ("json", "yaml", "wide", "name", "jsonpath=", "custom-columns=")
FLAGS = {
    "get": (
        "-n",
        "-A",
        "--all-namespaces",
        "-l",
        "-o",
        "--sort-by",
        "--show-labels",
        "-w",
        "--watch",
        "--watch-only",
        "--output-watch-events",
    ),
    "describe": ("-n", "-A", "--all-namespaces", "-l"),
    "logs": ("-n", "-c", "--container", "-f", "--follow", "--tail", "--since", "-p", "--previous"),
    "kubeconfig": ("--output", "--merge", "--level", "--reason"),
    "credential": ("--level", "--reason"),
    "request": ("--for", "--reason", "-n", "--namespace", "--wait", "--cancel"),
}
# The top-level commands' own flags (kubectl_scipian.promotions.flags and cli).
TOP_FLAGS = {
    "promote": (
        "-n", "--namespace", "--chart", "--version", "--through", "--reason", "-f", "--values",
        "--values-for", "--set", "--set-for", "--soak", "--timeout", "--dry-run", "--no-wait",
        "--helm",
    ),
    "promotions": ("--diff", "-o", "--output", "-w", "--watch"),
    "approve": ("--step", "--reason", "--diff-digest"),
    "cancel": ("--reason",),
    "requests": ("-o", "--output"),
    "approve-request": ("--reason",),
    "deny-request": ("--reason",),
    "revoke-request": ("--reason",),
}  # fmt: skip
PROMOTION_OUTPUTS = ("wide", "json", "yaml")
FILE_OPTIONS = ("--certificate-authority", "--output", "--chart", "-f", "--values", "--helm")
LEVELS = ("read", "deploy")
# The commands that take an access request's NAME, and the phases worth completing.
REQUEST_PHASES: dict[str, tuple[str, ...]] = {
    "requests": (),  # every phase
    "approve-request": ("Pending",),
    "deny-request": ("Pending",),
    "revoke-request": ("Pending", "Approved"),
}


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.shell == "__complete":
        found, directive = complete(list(args.words) or [""], ctx.environ)
        for item in found:
            print(item, file=ctx.stdout)
        print(f":{directive}", file=ctx.stdout)
        return 0
    print(script(args.shell), end="", file=ctx.stdout)
    return 0


# -- the completer ----------------------------------------------------------------------


def complete(words: list[str], environ: Mapping[str, str]) -> tuple[list[str], int]:
    """(candidates, directive) for the last of `words` (those after `kubectl scipian`)."""
    *before, current = words
    if before and before[-1] in VALUE_OPTIONS:
        return _option_value(before[-1], current, before, environ)
    if current.startswith("-"):
        command = _positionals(before)[:1]
        if command and command[0] in TOP_FLAGS:
            return _matching(TOP_FLAGS[command[0]], current), NO_FILES
        verb = _positionals(before)[1:2]
        flags = FLAGS.get(verb[0], ()) if verb else ("--backend", "--env", "-n", "-h", "-v")
        return _matching(flags, current), NO_FILES
    positional = _positionals(before)
    sources = Sources(environ)
    if not positional:
        return _matching([*TOP_COMMANDS, *sources.environments()], current), NO_FILES
    first = positional[0]
    if first == "completion":
        return (_matching(SHELLS, current) if len(positional) == 1 else []), NO_FILES
    if first == "logout":
        found = _matching(sources.environments(), current) if len(positional) == 1 else []
        return found, NO_FILES
    if first in REQUEST_PHASES and len(positional) == 1:
        return _matching(sources.requests(REQUEST_PHASES[first]), current), NO_FILES
    if first in TOP_COMMANDS:
        return [], NO_FILES
    env_id = first
    if len(positional) == 1:
        return _matching(ENV_VERBS, current), NO_FILES
    env_verb = positional[1]
    if env_verb == "helm" and len(positional) == 2:
        return _matching(HELM_SUBCOMMANDS, current), NO_FILES
    if env_verb == "request" and len(positional) == 2:
        return _matching(LEVELS, current), NO_FILES
    if env_verb in ("get", "describe") and len(positional) == 2:
        return _matching(sources.resource_types(env_id), current), NO_FILES
    if env_verb in ("get", "describe") and "/" not in positional[2] and "/" not in current:
        names = sources.object_names(env_id, positional[2], _namespace_of(before))
        return _matching(names, current), NO_FILES
    if env_verb == "logs" and len(positional) == 2:
        return _matching(
            sources.object_names(env_id, "pods", _namespace_of(before)), current
        ), NO_FILES
    return [], NO_FILES


def _namespace_of(words: list[str]) -> str | None:
    """The last -n/--namespace value among the words (kubectl's rule), None when none."""
    found = None
    for i, word in enumerate(words):
        if word in ("-n", "--namespace") and i + 1 < len(words):
            found = words[i + 1]
        elif word.startswith(("--namespace=", "-n=")):
            found = word.split("=", 1)[1]
    return found


def _option_value(
    option: str, current: str, before: list[str], environ: Mapping[str, str]
) -> tuple[list[str], int]:
    if option == "--env":
        return _matching(Sources(environ).environments(), current), NO_FILES
    if option in ("--step", "--through", "--diff"):
        # --through takes a list: complete the environment after the last comma.
        head, _, tail = current.rpartition(",")
        prefix = f"{head}," if head else ""
        envs = Sources(environ).environments()
        return [prefix + e for e in _matching(envs, tail)], NO_FILES
    if option in ("-o", "--output") and ("promotions" in before or "requests" in before):
        return _matching(PROMOTION_OUTPUTS, current), NO_FILES
    if option == "--cancel":  # ENV request --cancel NAME: your open requests of ENV
        positional = _positionals(before[:-1])
        env_id = positional[0] if positional and positional[0] not in TOP_COMMANDS else None
        open_phases = ("Pending", "Approved")
        return _matching(Sources(environ).requests(open_phases, env_id), current), NO_FILES
    if option == "--level":
        return _matching(LEVELS, current), NO_FILES
    if option in ("-n", "--namespace"):
        positional = _positionals(before[:-1])
        if positional and positional[0] not in TOP_COMMANDS:
            return _matching(Sources(environ).namespaces(positional[0]), current), NO_FILES
        return [], NO_FILES
    if option in ("-o", "--output") and "kubeconfig" not in before:
        return _matching(OUTPUTS, current), NO_FILES
    if option in FILE_OPTIONS:
        return [], DEFAULT  # a file name
    return [], NO_FILES


def _positionals(words: list[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
    return out


def _matching(items: Iterable[str], prefix: str) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item.startswith(prefix):
            seen.setdefault(item, None)
    return list(seen)


# -- where candidates come from ---------------------------------------------------------


class Sources:
    """The plugin's caches (and, when logged in, its backend), read without side effects."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        from kubectl_scipian import config
        from kubectl_scipian.access.cache import backend_dir

        self.root: Path | None = None  # this backend's cache directory
        self.backend = ""
        self.verify: bool | str = True
        try:
            conf = config.resolve(environ, require_backend=False)
        except Exception:  # a broken config.json: complete nothing from it
            return
        if conf.backend_url:
            self.root = backend_dir(conf.cache_dir, conf.backend_url)
            self.backend, self.verify = conf.backend_url, conf.verify

    def environments(self) -> list[str]:
        return self.from_backend() or self.from_cache()

    def from_backend(self) -> list[str]:
        """The environments the backend lets this login use; [] on any trouble."""
        items = self._backend_items("/api/v1/environments")
        return sorted(
            i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)
        )

    def requests(self, phases: tuple[str, ...], env_id: str | None = None) -> list[str]:
        """The names of the access requests this login may see (its own, and those it may
        decide) in one of `phases`, of `env_id` when given; [] on any trouble."""
        path = "/api/v1/accessrequests"
        if env_id is not None:
            from urllib.parse import quote

            path += f"?environment={quote(env_id, safe='')}"
        names = []
        for item in self._backend_items(path):
            meta = item.get("metadata") if isinstance(item, dict) else None
            status = item.get("status") if isinstance(item, dict) else None
            name = meta.get("name") if isinstance(meta, dict) else None
            phase = status.get("phase") if isinstance(status, dict) else None
            if isinstance(name, str) and (not phases or phase in phases):
                names.append(name)
        return sorted(names)

    def _backend_items(self, path: str) -> list[Any]:
        """The `items` of a GET with the cached, unexpired login; [] on any trouble."""
        root = self.root
        if root is None:
            return []
        login = _read_json(root / "login.json") or {}
        token, expires = login.get("idToken"), login.get("expiresAt")
        if not isinstance(token, str) or not isinstance(expires, (int, float)):
            return []
        if expires <= time.time():
            return []
        import requests

        try:
            response = requests.get(
                f"{self.backend}{path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=COMPLETE_TIMEOUT,
                verify=self.verify,
            )
            items = response.json().get("items") if response.status_code == 200 else None
        except (requests.RequestException, ValueError, AttributeError):
            return []
        return items if isinstance(items, list) else []

    def from_cache(self) -> list[str]:
        root = self.root
        if root is None:
            return []
        found: set[str] = set()
        for path in (root / "kubeconfigs").glob("*.json"):
            env_id = (_read_json(path) or {}).get("environment")
            if isinstance(env_id, str):
                found.add(env_id)
        read = root / "read"
        if read.is_dir():
            found.update(p.name for p in read.iterdir() if p.is_dir() and p.name != "help")
        return sorted(found)

    def resource_types(self, env_id: str) -> list[str]:
        root = self.root
        names: list[str] = []
        if root is not None:
            for path in sorted((root / "read" / env_id / "discovery").glob("*/resources.json")):
                resources = (_read_json(path) or {}).get("resources")
                for r in resources if isinstance(resources, list) else []:
                    if (
                        isinstance(r, dict)
                        and r.get("preferred")
                        and "get" in (r.get("verbs") or [])
                    ):
                        names.append(str(r.get("name")))
        return sorted(set(names)) or list(COMMON_TYPES)

    def cached_kubeconfig(self, env_id: str) -> dict[str, Any] | None:
        """The newest unexpired cached kubeconfig of the environment; never a new one."""
        root = self.root
        if root is None:
            return None
        best: tuple[float, str] | None = None
        now = time.time()
        for path in (root / "kubeconfigs").glob("*.json"):
            record = _read_json(path) or {}
            expires, fetched = record.get("expiresAt"), record.get("fetchedAt")
            text = record.get("kubeconfig")
            if record.get("environment") != env_id or not isinstance(text, str):
                continue
            if not isinstance(expires, (int, float)) or expires <= now + COMPLETE_MARGIN:
                continue
            stamp = float(fetched) if isinstance(fetched, (int, float)) else 0.0
            if best is None or stamp > best[0]:
                best = (stamp, text)
        if best is None:
            return None
        from kubectl_scipian.backend import issued

        try:
            return issued.document(best[1])
        except Exception:  # not a kubeconfig: nothing to complete with
            return None

    def _read_dir(self, env_id: str) -> Path:
        assert self.root is not None
        return self.root / "read" / env_id

    def object_names(self, env_id: str, type_arg: str, namespace: str | None) -> list[str]:
        kubeconfig = self.cached_kubeconfig(env_id)
        if kubeconfig is None:
            return []
        from kubectl_scipian.read import names

        return names.object_names(kubeconfig, self._read_dir(env_id), type_arg, namespace)

    def namespaces(self, env_id: str) -> list[str]:
        kubeconfig = self.cached_kubeconfig(env_id)
        if kubeconfig is None:
            return []
        from kubectl_scipian.read import names

        return names.namespaces(kubeconfig, self._read_dir(env_id))


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- the scripts ------------------------------------------------------------------------

BASH = r"""# bash completion for kubectl-scipian: source <(kubectl scipian completion bash)
# Completes `kubectl-scipian ...` and every alias for `kubectl-scipian ...` or
# `kubectl scipian ...` defined before this is sourced (eval "$(kubectl scipian alias)"
# first). `kubectl scipian ...`
# itself is completed by kubectl's own completion through kubectl_complete-scipian.
__kubectl_scipian_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}" cmd="${COMP_WORDS[0]}" out directive
    local -a prefix=() words=("${COMP_WORDS[@]:1:COMP_CWORD}")
    if [[ -n "${BASH_ALIASES[$cmd]:-}" ]]; then
        read -r -a prefix <<< "${BASH_ALIASES[$cmd]}"
        if [[ "${prefix[0]}" == kubectl && "${prefix[1]}" == scipian ]]; then
            prefix=("${prefix[@]:2}")
        else
            prefix=("${prefix[@]:1}")
        fi
    fi
    out=$(kubectl-scipian completion __complete "${prefix[@]}" "${words[@]}" 2>/dev/null) ||
        return 0
    directive="${out##*:}"
    out="${out%:*}"
    if (( directive & 4 )); then
        compopt +o default 2>/dev/null
    fi
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
}
complete -o default -F __kubectl_scipian_complete kubectl-scipian
while read -r __kubectl_scipian_alias; do
    complete -o default -F __kubectl_scipian_complete "$__kubectl_scipian_alias"
done < <(alias -p | sed -n "s/^alias \([^=]*\)='kubectl[ -]scipian\( .*\)\{0,1\}'$/\1/p")
unset __kubectl_scipian_alias
"""

ZSH = r"""#compdef kubectl-scipian
# zsh completion for kubectl-scipian: source <(kubectl scipian completion zsh)
# zsh expands aliases before completing: `alias kdev='kubectl-scipian dev'` completes
# here, one for `kubectl scipian ...` through kubectl's own zsh completion (with
# kubectl_complete-scipian on PATH).
_kubectl_scipian() {
    local -a lines candidates
    local directive
    lines=("${(@f)$(kubectl-scipian completion __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    directive="${lines[-1]#:}"
    candidates=("${(@)lines[1,-2]}")
    if (( ${#candidates} )); then
        compadd -- "${candidates[@]}"
    elif (( ! (directive & 4) )); then
        _files
    fi
}
compdef _kubectl_scipian kubectl-scipian
"""

FISH = r"""# fish completion for kubectl-scipian: kubectl scipian completion fish | source
# Aliases (`alias kdev 'kubectl-scipian dev'`) wrap kubectl-scipian and complete here;
# ones for `kubectl scipian ...` through kubectl's own fish completion.
function __kubectl_scipian_complete
    set -l words (commandline -opc)[2..-1] (commandline -ct)
    kubectl-scipian completion __complete $words 2>/dev/null | string match -v -r '^:'
end
complete -c kubectl-scipian -f -a '(__kubectl_scipian_complete)'
"""


def script(shell: str) -> str:
    return {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell]

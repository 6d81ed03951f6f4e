"""One module per command, each with `run(args, ctx) -> int`; imported lazily by `cli`
(a command's `-` is a `_` in its module's name).

The one list of commands: `cli` parses, dispatches and writes its help from it, and the
completer (commands/completion.py) completes from it.
"""

from __future__ import annotations

from typing import NamedTuple

from kubectl_scipian.read import VERBS as READ_VERBS


class Command(NamedTuple):
    synopsis: str  # as the top-level help lists it
    summary: str  # the top-level help's line
    description: str  # the command's own help


# Commands of the plugin itself: `kubectl scipian NAME ...`.
TOP: dict[str, Command] = {
    "login": Command(
        "login",
        "log in (browser, or --device-code on a host without one)",
        "Log in to the Scipian backend's OIDC provider.",
    ),
    "logout": Command(
        "logout [ENV | --all]",
        "forget a cached credential, this backend's login, or everything",
        "Without arguments: forget this backend's login and its cached credentials.",
    ),
    "whoami": Command(
        "whoami",
        "show who you are logged in as",
        "Show the identity of the current login.",
    ),
    "envs": Command(
        "envs",
        "list the environments you may use and your cached credentials",
        "List the environments you may use, with the expiry of each cached credential.",
    ),
    "promote": Command(
        "promote RELEASE ...",
        "one chart through dev,staging,prod, each step gated (--resume NAME)",
        "Promote one chart through a chain of environments. Each step runs the real\n"
        "`helm upgrade --install --atomic --wait` with a deploy credential that the backend\n"
        "issues only once the step before it is verified (and its approvals are met).\n"
        "`promote --resume NAME --chart CHART` continues a promotion.\n\n"
        "exit codes: 0 every step succeeded, 1 a step failed or the backend refused,\n"
        "2 bad input, 3 --no-wait stopped at a step awaiting approval, 130 Ctrl-C",
    ),
    "promotions": Command(
        "promotions [NAME]",
        "list promotions, or show one (-o wide|json|yaml)",
        "Show promotions and their steps (-o json|yaml: the Promotion objects, a kubectl List).",
    ),
    "approve": Command(
        "approve NAME --step ENV",
        "approve a promotion's step (--reason; a fresh login)",
        "Approve one step of someone else's promotion, with a reason and a fresh login.",
    ),
    "version": Command("version", "print the plugin version", "Print the plugin version."),
    "completion": Command(
        "completion bash|zsh|fish",
        "print a shell completion script (see README)",
        "Print a completion script for bash, zsh or fish.",
    ),
    "alias": Command(
        "alias",
        "print alias lines: alias kdev='kubectl-scipian dev'",
        "Print an alias line for each environment you may use.",
    ),
}

# Commands of one environment that are not read verbs: `kubectl scipian ENV NAME ...`.
PER_ENV: dict[str, Command] = {
    "kubeconfig": Command(
        "ENV kubeconfig",
        "print a kubeconfig for kubectl/helm/k9s (--output FILE, --merge)",
        "Print a kubeconfig whose user runs `kubectl-scipian ... credential`.",
    ),
    "helm": Command(
        "ENV helm list|history|...",
        "Helm releases, redacted (-n, -A, -o; dev,prod helm list -A)",
        "Helm 4's list, history and status of ENV's releases, without values, manifests or notes.",
    ),
    "credential": Command(
        "ENV credential",
        "print an ExecCredential (what that kubeconfig runs)",
        "Print an ExecCredential for ENV (run by kubectl through a kubeconfig).",
    ),
    "ack-break-glass": Command(
        "ENV ack-break-glass ID",
        "acknowledge someone's break-glass (--reason; a fresh login)",
        "Acknowledge someone else's break-glass ID on ENV, with a reason and a fresh login.",
    ),
}

# The modules that run the read verbs (READ_VERBS) for one environment and for several.
ONE_ENV_READ = "read"
MANY_ENV_READ = "fanout"

__all__ = ["MANY_ENV_READ", "ONE_ENV_READ", "PER_ENV", "READ_VERBS", "TOP", "Command"]

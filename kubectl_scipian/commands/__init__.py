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
        "one chart through dev,staging,prod, executed by the backend",
        "Promote one chart through a chain of environments. The plugin uploads the chart\n"
        "(a .tgz as is; a directory packaged by your `helm package`), creates the promotion\n"
        "with your values, and watches it. The backend runs every step with its own helm,\n"
        "after the gates (the step before verified, approvals met), for exactly the\n"
        "approved bytes; nobody holds a deploy credential for it. Ctrl-C only stops\n"
        "watching.\n\n"
        "exit codes: 0 Succeeded, 1 Failed (or the backend refused), 2 bad input,\n"
        "3 --no-wait stopped at a step awaiting approval, 4 Cancelled, 130 Ctrl-C",
    ),
    "promotions": Command(
        "promotions [NAME]",
        "list promotions, show one (--diff ENV, --watch, -o wide|json|yaml)",
        "Show promotions and their steps (-o json|yaml: the Promotion objects, a kubectl List).\n"
        "NAME --diff ENV: what step ENV changes, with the digest an approval binds.\n"
        "NAME --watch: follow it to its end (the exit codes of promote).",
    ),
    "approve": Command(
        "approve NAME --step ENV",
        "approve a promotion's step, bound to its diff (--reason; a fresh login)",
        "Approve one step of someone else's promotion, with a reason and a fresh login.\n"
        "On a terminal the step's diff is shown and confirmed; without one, pass\n"
        "--diff-digest D from `promotions NAME --diff ENV`.",
    ),
    "cancel": Command(
        "cancel NAME",
        "cancel a promotion (--reason)",
        "Cancel a promotion: the backend stops it (a step being deployed is rolled back)\n"
        "and it ends Cancelled.",
    ),
    "requests": Command(
        "requests [NAME]",
        "access requests: yours and those you may approve (-o wide|json|yaml)",
        "Show access requests: your own, and those of environments you may approve, with\n"
        "the columns of `kubectl get accessrequest` (-o json|yaml: the objects, a kubectl List).",
    ),
    "approve-request": Command(
        "approve-request NAME",
        "approve someone's access request (--reason; a fresh login)",
        "Approve someone else's access request, with a reason and a fresh login. Its window\n"
        "starts when the approvals it needs are in.",
    ),
    "deny-request": Command(
        "deny-request NAME",
        "deny an access request (--reason; a fresh login)",
        "Deny someone else's access request, with a reason and a fresh login (one denial\n"
        "ends it).",
    ),
    "revoke-request": Command(
        "revoke-request NAME",
        "end an approved access request now (--reason; a fresh login)",
        "Revoke an access request (Approved or Pending), with a reason and a fresh login:\n"
        "its credentials stop working before the command returns.",
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
    "request": Command(
        "ENV request read|deploy",
        "ask for access for a while (--for 2h --reason TEXT [-n NS] [--wait])",
        "Ask for read or deploy access to ENV for a while (--for 30m, 2h, 1h30m; the window\n"
        "starts at the approval). Prints the request's name; an approver runs\n"
        "`kubectl scipian approve-request NAME --reason TEXT`. A deploy request covers the\n"
        "namespaces given with -n (default: all of ENV's deploy namespaces); then\n"
        "`kubectl scipian ENV kubeconfig --level deploy --reason TEXT` issues a credential.\n"
        "--cancel NAME withdraws your request.\n\n"
        "exit codes with --wait: 0 Approved, 1 Denied, Expired, Cancelled or Revoked (or\n"
        "the backend refused), 2 bad input, 130 Ctrl-C (the request stays)",
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

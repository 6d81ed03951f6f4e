"""Names the plugin receives from the backend, checked before they reach a helm command
line, a URL path or a file (pure).

Environment ids from the backend name cache files and URL paths, and a release or
namespace from it could otherwise hand helm `--post-renderer=...` as a release name. Each
check raises BackendError with one line, the value shown escaped and bounded. helm's argv
also carries `--` before its positional arguments (helm/rollback.py).
"""

from __future__ import annotations

import re

from kubectl_scipian.errors import BackendError

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_RELEASE = 53  # helm's limit on a release name
MAX_REVISION = 2**31 - 1


def release_problem(name: object) -> str | None:
    if not isinstance(name, str) or len(name) > MAX_RELEASE or not DNS_SUBDOMAIN.fullmatch(name):
        return f"a release name (a DNS-1123 subdomain of at most {MAX_RELEASE} characters)"
    return None


def namespace_problem(name: object) -> str | None:
    if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        return "a namespace (a DNS-1123 label)"
    return None


def env_problem(name: object) -> str | None:
    if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        return "an environment id (a DNS-1123 label)"
    return None


def revision_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REVISION:
        return "a revision (a positive integer)"
    return None


def check(kind: str, value: object, problem: str | None) -> None:
    """BackendError naming `kind` and what it should be, when `problem` says it is not."""
    if problem is not None:
        from kubectl_scipian.support.untrusted import visible

        shown = visible(repr(value)[:80])
        raise BackendError(f"the Scipian backend sent a {kind} that is not {problem}: {shown}")


def check_release(name: object) -> str:
    check("release name", name, release_problem(name))
    return str(name)


def check_namespace(name: object) -> str:
    check("namespace", name, namespace_problem(name))
    return str(name)


def check_env(name: object) -> str:
    check("environment id", name, env_problem(name))
    return str(name)


def check_revision(value: object) -> int:
    check("revision", value, revision_problem(value))
    assert isinstance(value, int)
    return value

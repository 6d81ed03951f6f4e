"""Dex (github.com/dexidp/dex v2.45.1, tests/tools/dex) as the stack's second OIDC provider.

`start(directory, ...)` writes a Dex configuration into `.stack/<name>/` and runs `dex serve`
on a free loopback port: in-memory storage, the LDAP connector against the stack's slapd
(tests/stack/ldap_daemon.py: people by `uid`, `mail` as email, groups from `groupOfNames`
with nested groups followed), one public static client with the same id as the default
provider's (`kubectl-scipian`: any loopback redirect, PKCE, the device flow), refresh tokens
rotated (Dex's default, 3 s reuse window), no approval screen. Returns the issuer URL.

What Dex v2.45.1 does not do, and the tests show: it sets no `auth_time` and ignores
`max_age` (so no step-up, docs/providers.md), it has no revocation endpoint, and it polls the
device flow every 5 s (fixed), answering `slow_down` to anything faster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests import tools
from tests.stack import ldap_daemon, procs
from tests.stack.paths import stack_dir

CLIENT_ID = "kubectl-scipian"
CONNECTOR_ID = "ldap"
REFRESH_REUSE_SECONDS = 3  # Dex's default: a refresh token presented again this soon is kept


def config(
    issuer: str, port: int, directory: ldap_daemon.Directory, id_token_ttl: int
) -> dict[str, object]:
    return {
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {"http": f"127.0.0.1:{port}"},
        "logger": {"level": "info", "format": "text"},
        "oauth2": {
            "responseTypes": ["code"],
            "skipApprovalScreen": True,
            "alwaysShowLoginScreen": False,
        },
        "expiry": {
            "idTokens": f"{id_token_ttl}s",
            "deviceRequests": "5m",
            "refreshTokens": {"reuseInterval": f"{REFRESH_REUSE_SECONDS}s"},
        },
        "staticClients": [
            {
                "id": CLIENT_ID,
                "name": "kubectl-scipian",
                # Public, no redirect URIs: any http://127.0.0.1:PORT (RFC 8252) and the
                # device flow's own callback.
                "public": True,
            }
        ],
        "connectors": [
            {
                "type": "ldap",
                "id": CONNECTOR_ID,
                "name": "LDAP",
                "config": {
                    "host": directory.url.removeprefix("ldap://"),
                    "insecureNoSSL": True,
                    "bindDN": directory.bind_dn,
                    "bindPW": directory.bind_password,
                    "usernamePrompt": "Username",
                    "userSearch": {
                        "baseDN": ldap_daemon.PEOPLE_DN,
                        "filter": "(objectClass=inetOrgPerson)",
                        "username": "uid",
                        "idAttr": "uid",
                        "emailAttr": "mail",
                        "nameAttr": "cn",
                        "preferredUsernameAttr": "uid",
                    },
                    "groupSearch": {
                        "baseDN": ldap_daemon.GROUPS_DN,
                        "filter": "(objectClass=groupOfNames)",
                        "userMatchers": [
                            # member=<the person's DN>, then member=<each group's DN> upwards
                            {
                                "userAttr": "DN",
                                "groupAttr": "member",
                                "recursionGroupAttr": "member",
                            }
                        ],
                        "nameAttr": "cn",
                    },
                },
            }
        ],
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    directory: ldap_daemon.Directory,
    *,
    name: str = "dex",
    id_token_ttl: int = 3600,
    timeout: float = 60.0,
) -> str:
    """Starts Dex as stack process `name` and returns its issuer once discovery answers."""
    binary = tools.dex()
    state = stack_dir() / name
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True, mode=0o700)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    path = state / "config.json"
    path.write_text(json.dumps(config(issuer, port, directory, id_token_ttl), indent=1))
    os.chmod(path, 0o600)  # holds the directory's service password
    # The config path names the state dir on the command line (procs.strays finds it).
    procs.spawn(name, [str(binary), "serve", str(path)])
    wait_ready(issuer, name, timeout)
    return issuer


def wait_ready(issuer: str, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = issuer + "/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if name in procs.dead():
            raise RuntimeError(f"Dex exited; see {procs.log_dir() / (name + '.log')}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"Dex not ready at {issuer} after {timeout:.0f}s")


def state_path(name: str = "dex") -> Path:
    return stack_dir() / name


def directory_of(env: Mapping[str, str]) -> ldap_daemon.Directory:
    """The stack's directory, from .stack/env (written when the Dex pair started)."""
    return ldap_daemon.Directory(
        env["STACK_LDAP_URL"], env["STACK_LDAP_BIND_DN"], env["STACK_LDAP_BIND_PASSWORD"]
    )


@dataclass
class DexProcess:
    """A test-owned Dex (e.g. with 5-second id_tokens) against the stack's directory; a stack
    process while it runs (so `scripts/stack down` ends it too), its log in the stack's."""

    issuer: str
    name: str
    client_id: str = CLIENT_ID

    def stop(self) -> None:
        pid = procs.tracked().get(self.name)
        if pid is not None:
            procs.stop(self.name, pid)
        shutil.rmtree(state_path(self.name), ignore_errors=True)


def start_own(env: Mapping[str, str], *, id_token_ttl: int) -> DexProcess:
    name = f"dex-test-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    return DexProcess(start(directory_of(env), name=name, id_token_ttl=id_token_ttl), name)

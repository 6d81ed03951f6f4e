"""The stack's identity providers, each paired with a backend that trusts it.

`oidc-provider` (tests/idp) with the stack's backend is always there. `dex` (Dex in front of
slapd, tests/stack/dex_daemon.py and ldap_daemon.py) with a second backend ("backend-dex",
same mgmt cluster, same environments and grants, same claim prefix `oidc:`) starts on demand:
`scripts/stack up --idp dex`, or the first test that asks for it (`ensure_dex`).

`.stack/env` keeps each pair under its own names and points the generic ones
(`STACK_IDP_ISSUER`, `SCIPIAN_BACKEND_URL`, ...) at the selected pair (`STACK_IDP`):

| pair | issuer | backend |
|---|---|---|
| oidc-provider | `STACK_OIDC_PROVIDER_ISSUER` | `STACK_OIDC_PROVIDER_BACKEND_URL` |
| dex | `STACK_DEX_ISSUER` | `STACK_DEX_BACKEND_URL` |
"""

from __future__ import annotations

from tests.stack import backend_daemon, dex_daemon, idp_daemon, ldap_daemon

DEFAULT = "oidc-provider"
DEX = "dex"
NAMES = (DEFAULT, DEX)
KEYS = {DEFAULT: "STACK_OIDC_PROVIDER", DEX: "STACK_DEX"}
DEX_BACKEND = "backend-dex"


def pair_values(name: str, issuer: str, backend_url: str, client_id: str) -> dict[str, str]:
    prefix = KEYS[name]
    return {
        f"{prefix}_ISSUER": issuer,
        f"{prefix}_BACKEND_URL": backend_url,
        f"{prefix}_CLIENT_ID": client_id,
    }


def has(env: dict[str, str], name: str) -> bool:
    return bool(env.get(f"{KEYS[name]}_ISSUER") and env.get(f"{KEYS[name]}_BACKEND_URL"))


def select(env: dict[str, str], name: str) -> dict[str, str]:
    """`env` with the generic names pointing at pair `name` (which must be in it)."""
    if name == DEFAULT and not has(env, DEFAULT) and "STACK_IDP" not in env:
        return {**env, "STACK_IDP": DEFAULT}  # a stack started before pairs existed
    if not has(env, name):
        raise KeyError(f"the stack has no {name} provider (scripts/stack up --idp {name})")
    prefix = KEYS[name]
    return {
        **env,
        "STACK_IDP": name,
        "STACK_IDP_ISSUER": env[f"{prefix}_ISSUER"],
        "STACK_IDP_CLIENT_ID": env[f"{prefix}_CLIENT_ID"],
        "SCIPIAN_BACKEND_URL": env[f"{prefix}_BACKEND_URL"],
    }


def start_dex(password: str) -> dict[str, str]:
    """slapd, Dex and a backend trusting Dex, beside a running stack (whose mgmt cluster is
    prepared: environments registered, grants applied). Returns the pair's env values."""
    directory = ldap_daemon.start(password)
    issuer = dex_daemon.start(directory)
    url = backend_daemon.serve(DEX_BACKEND, issuer, dex_daemon.CLIENT_ID)
    return {
        **pair_values(DEX, issuer, url, dex_daemon.CLIENT_ID),
        "STACK_LDAP_URL": directory.url,
        "STACK_LDAP_BIND_DN": directory.bind_dn,
        "STACK_LDAP_BIND_PASSWORD": directory.bind_password,
    }


def default_values(issuer: str, backend_url: str) -> dict[str, str]:
    return pair_values(DEFAULT, issuer, backend_url, idp_daemon.CLIENT_ID)

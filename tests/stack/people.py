"""The stack's people and their groups, as the LDAP directory behind Dex holds them.

The same five people as the default provider's (tests/idp/provider.mjs USER_GROUPS; a unit
test keeps the two equal), plus `erin`, whose group `team-a` comes only through a nested
group: she is in `web-devs`, and `web-devs` is a member of `team-a`.
"""

from __future__ import annotations

DOMAIN = "example.test"
USER_GROUPS: dict[str, tuple[str, ...]] = {
    "alice": ("team-a",),
    "bob": ("team-b",),
    "carol": ("platform-admins",),
    "dave": ("platform-admins", "release-managers"),
    "mallory": (),
}
NESTED_USER = "erin"
# group -> the groups that are members of it (LDAP `member` naming another group)
NESTED: dict[str, tuple[str, ...]] = {"team-a": ("web-devs",)}
NESTED_DIRECT: dict[str, tuple[str, ...]] = {NESTED_USER: ("web-devs",)}


def email(user: str) -> str:
    return f"{user}@{DOMAIN}"


def directory_users() -> tuple[str, ...]:
    return (*USER_GROUPS, NESTED_USER)


def directory_groups() -> dict[str, list[str]]:
    """Every group with its members: people (by uid) and nested groups (by cn)."""
    groups: dict[str, list[str]] = {}
    for user, names in {**USER_GROUPS, **NESTED_DIRECT}.items():
        for name in names:
            groups.setdefault(name, []).append(user)
    for parent, children in NESTED.items():
        groups.setdefault(parent, []).extend(children)
    return groups


def effective_groups(user: str) -> set[str]:
    """The groups a provider that follows nesting reports for `user`."""
    found = set(USER_GROUPS.get(user, NESTED_DIRECT.get(user, ())))
    while True:
        more = {p for p, children in NESTED.items() if set(children) & found} - found
        if not more:
            return found
        found |= more

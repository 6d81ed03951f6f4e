"""Which environments a read names: `dev,prod`, `@group`, `@all`.

dev,prod          these environments, in this order
@team-a           the group `team-a` of config.json: {"groups": {"team-a": ["dev", "prod"]}}
@all              every environment the backend lets you use (GET /api/v1/environments)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubectl_scipian.errors import ConfigError, ScipianError

ALL = "@all"


class SelectionError(ScipianError):
    exit_code = 2


def resolve(
    spec: str,
    groups: Mapping[str, object],
    all_envs: Callable[[], list[str]],
) -> list[str]:
    """The environments named by `dev,prod,@group`, first mention first, each once."""
    found: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise SelectionError(f"empty environment name in {spec!r}")
        if part == ALL:
            names = all_envs()
        elif part.startswith("@"):
            members = groups.get(part[1:])
            if members is None:
                raise SelectionError(
                    f'unknown group {part!r}: define it in config.json as "groups": '
                    f'{{"{part[1:]}": ["dev", "prod"]}} (or use @all)'
                )
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ConfigError(f"config.json: group {part[1:]!r} must be a list of names")
            names = list(members)
        else:
            names = [part]
        found += [n for n in names if n not in found]
    return found


def config_groups(file: Mapping[str, object]) -> Mapping[str, object]:
    groups = file.get("groups", {})
    if not isinstance(groups, dict):
        raise ConfigError('config.json: "groups" must be an object of name -> [environments]')
    return groups

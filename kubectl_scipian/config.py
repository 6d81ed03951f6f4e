"""Where the plugin keeps its files and which backend it talks to.

Precedence for the backend URL: ``--backend``, then ``SCIPIAN_BACKEND_URL``, then
``"backend"`` in ``config.json``. The config directory is
``platformdirs.user_config_dir("kubectl-scipian")`` unless ``KUBECTL_SCIPIAN_CONFIG_DIR``
moves it (tests and the local stack always do, so they never touch a person's files).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from kubectl_scipian.errors import ConfigError

CONFIG_DIR_VAR = "KUBECTL_SCIPIAN_CONFIG_DIR"
BACKEND_VAR = "SCIPIAN_BACKEND_URL"
CA_VAR = "SCIPIAN_CA_BUNDLE"
APP_NAME = "kubectl-scipian"


class Config(NamedTuple):
    config_dir: Path
    backend_url: str
    # requests' `verify`: True (system/certifi roots) or the path of a CA bundle.
    verify: bool | str

    @property
    def cache_dir(self) -> Path:
        return self.config_dir / "cache"


def config_dir(environ: Mapping[str, str]) -> Path:
    override = environ.get(CONFIG_DIR_VAR)
    if override:
        return Path(override).expanduser()
    # Imported here: only commands that touch files need platformdirs.
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def read_file(directory: Path) -> dict[str, object]:
    path = directory / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_backend_url(url: str) -> str:
    """Canonical form (also the cache key's first part); refuses http:// off loopback."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"backend URL must be https://HOST[:PORT][/PATH], got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("backend URL must not carry credentials, a query or a fragment")
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http:// to {parts.hostname}: tokens would travel unencrypted; "
            "use https:// (http:// is allowed only to loopback)"
        )
    netloc = parts.netloc.lower()
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


def resolve(
    environ: Mapping[str, str],
    *,
    backend: str | None = None,
    certificate_authority: str | None = None,
    require_backend: bool = True,
) -> Config:
    directory = config_dir(environ)
    file = read_file(directory)
    url = backend or environ.get(BACKEND_VAR) or _str(file.get("backend"))
    if not url:
        if require_backend:
            raise ConfigError(
                f"no Scipian backend configured: pass --backend URL, set {BACKEND_VAR}, "
                f'or write {{"backend": "https://..."}} to {directory / "config.json"}'
            )
        return Config(directory, "", True)
    ca = certificate_authority or environ.get(CA_VAR) or _str(file.get("certificateAuthority"))
    verify: bool | str = True
    if ca:
        path = Path(ca).expanduser()
        if not path.is_file():
            raise ConfigError(f"certificate authority file {path} does not exist")
        verify = str(path)
    return Config(directory, normalize_backend_url(url), verify)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""

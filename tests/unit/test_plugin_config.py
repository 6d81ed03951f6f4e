"""Configuration resolution and the plain-http refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubectl_scipian import config
from kubectl_scipian.errors import ConfigError


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), **values}


def test_config_dir_variable_moves_everything(tmp_path: Path) -> None:
    resolved = config.resolve(env(tmp_path), backend="https://scipian.example")
    assert resolved.config_dir == tmp_path
    assert resolved.cache_dir == tmp_path / "cache"


def test_default_config_dir_is_platformdirs() -> None:
    import platformdirs

    assert config.config_dir({}) == Path(platformdirs.user_config_dir("kubectl-scipian"))


def test_precedence_flag_then_variable_then_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"backend": "https://file.example"}))
    assert config.resolve(env(tmp_path)).backend_url == "https://file.example"
    with_var = env(tmp_path, SCIPIAN_BACKEND_URL="https://var.example")
    assert config.resolve(with_var).backend_url == "https://var.example"
    assert config.resolve(with_var, backend="https://flag.example").backend_url == (
        "https://flag.example"
    )


def test_no_backend_names_every_way_to_set_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        config.resolve(env(tmp_path))
    assert "--backend" in str(err.value) and "SCIPIAN_BACKEND_URL" in str(err.value)
    assert str(tmp_path / "config.json") in str(err.value)


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://Scipian.Example/", "https://scipian.example"),
        ("https://scipian.example:8443/base/", "https://scipian.example:8443/base"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.1.2.3:1", "http://127.1.2.3:1"),
        ("http://localhost:9", "http://localhost:9"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_normalize(url: str, normal: str) -> None:
    assert config.normalize_backend_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "http://scipian.example",
        "http://10.0.0.1:8080",
        "http://127.0.0.1.nip.io",
        "ftp://scipian.example",
        "scipian.example",
        "https://user:pw@scipian.example",
        "https://scipian.example/?x=1",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        config.normalize_backend_url(url)


def test_plain_http_refusal_says_why() -> None:
    with pytest.raises(ConfigError, match="http:// is allowed only to loopback"):
        config.normalize_backend_url("http://scipian.example")


def test_ca_bundle_from_flag_variable_or_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    base = env(tmp_path, SCIPIAN_BACKEND_URL="https://s.example")
    assert config.resolve(base).verify is True
    assert config.resolve(base, certificate_authority=str(ca)).verify == str(ca)
    assert config.resolve({**base, "SCIPIAN_CA_BUNDLE": str(ca)}).verify == str(ca)
    (tmp_path / "config.json").write_text(json.dumps({"certificateAuthority": str(ca)}))
    assert config.resolve(base).verify == str(ca)
    with pytest.raises(ConfigError, match="does not exist"):
        config.resolve(base, certificate_authority=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("text", ["{", "[1]", "null"])
def test_broken_config_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=r"config\.json"):
        config.resolve(env(tmp_path), backend="https://s.example")

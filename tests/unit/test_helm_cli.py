"""`kubectl scipian ENV helm ...` on the command line, and the backend answers' mapping
(pure: no backend, no cluster)."""

from __future__ import annotations

import io

import pytest

from kubectl_scipian import cli, errors
from kubectl_scipian.backend import light_get as transport


@pytest.mark.parametrize(
    ("argv", "env_id", "sub", "rest", "verbose", "namespace"),
    [
        (["dev", "helm", "list", "-o", "json"], "dev", "list", ["-o", "json"], 0, None),
        (["dev,prod", "helm", "ls", "-A", "-v"], "dev,prod", "ls", ["-A"], 1, None),
        (["-n", "x", "dev", "helm", "history", "r.v2"], "dev", "history", ["r.v2"], 0, "x"),
    ],
)
def test_parse(
    argv: list[str], env_id: str, sub: str, rest: list[str], verbose: int, namespace: str | None
) -> None:
    args = cli.parse(argv, io.StringIO())
    assert (args.command, args.env_id, args.helm_command, args.helm_args) == (
        "helm",
        env_id,
        sub,
        rest,
    )
    assert (args.verbose, args.namespace) == (verbose, namespace)


def test_an_unknown_subcommand_is_an_argument_error() -> None:
    with pytest.raises(errors.ArgumentError, match="invalid choice: 'rollout'"):
        cli.parse(["dev", "helm", "rollout"], io.StringIO())


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, b'{"reason":"Unauthorized","message":"expired"}', errors.AuthError),
        (403, b'{"reason":"Forbidden","message":"no"}', errors.AuthError),
        (404, b'{"reason":"NotFound","message":"no environment x"}', errors.EnvNotFound),
        (404, b"<html>", errors.BackendError),
        (400, b'{"reason":"BadRequest","message":"namespace must be"}', errors.BackendError),
        (503, b'{"reason":"ServiceUnavailable","message":"down"}', errors.BackendError),
        (200, b"[]", errors.BackendError),
    ],
)
def test_answers_map_like_the_backend_client(status: int, body: bytes, error: type) -> None:
    with pytest.raises(error):
        transport._answer("http://backend", status, body)


def test_a_proxy_in_the_environment_means_requests() -> None:
    assert transport.usable({})
    assert not transport.usable({"HTTPS_PROXY": "http://proxy:3128"})
    assert not transport.usable({"all_proxy": "socks5://p"})

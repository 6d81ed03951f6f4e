"""Argument parsing, the one error-mapping place, and the start-up import budget."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_scipian import cli, errors
from kubectl_scipian.context import Context

UNAUTHORIZED = "error: You must be logged in to the server (Unauthorized)"


def parse(*argv: str) -> argparse.Namespace:
    return cli.parse(list(argv), io.StringIO())


def test_env_verb_and_args_pass_through() -> None:
    args = parse("dev", "get", "pods", "-n", "x", "-o", "wide", "-l", "a=b", "-A")
    assert (args.command, args.env_id, args.verb) == ("read", "dev", "get")
    assert args.args == ["pods", "-n", "x", "-o", "wide", "-l", "a=b", "-A"]


def test_env_named_like_a_command_is_reachable_with_env_flag() -> None:
    for name in cli.COMMANDS:
        args = parse("--env", name, "get", "pods")
        assert (args.command, args.env_id, args.verb, args.args) == ("read", name, "get", ["pods"])


def test_commands() -> None:
    assert parse("login", "--device-code").device_code is True
    login = parse("--backend", "https://b", "login", "--no-browser", "--timeout", "5")
    assert (login.no_browser, login.timeout, login.backend) == (True, 5.0, "https://b")
    assert parse("logout").env_id is None and parse("logout").all is False
    assert parse("logout", "dev").env_id == "dev"
    assert parse("logout", "--all").all is True
    assert parse("whoami").command == "whoami"
    assert parse("-v", "envs").verbose == 1


def test_logout_env_and_all_are_exclusive() -> None:
    with pytest.raises(errors.ArgumentError, match="not allowed with"):
        parse("logout", "dev", "--all")


def test_own_options_after_the_verb_are_taken_out() -> None:
    args = parse("dev", "logs", "web", "-v", "--backend=https://b", "-c", "app", "--", "-v")
    assert args.verbose == 1 and args.backend == "https://b"
    assert args.args == ["web", "-c", "app", "--", "-v"]


def test_top_level_namespace_is_passed_on() -> None:
    assert parse("-n", "shop", "dev", "get", "pods").args == ["-n", "shop", "pods"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dev"], "expected get, describe or logs"),
        (["dev", "delete", "pods"], "for an environment named 'dev' use --env dev"),
        (["login", "extra"], "unrecognized arguments"),
        (["--env", "dev", "apply"], "expected get, describe or logs"),
    ],
)
def test_usage_errors_exit_2_with_usage_on_stderr(argv: list[str], message: str) -> None:
    ctx, out, err = context()
    assert cli.run(argv, ctx) == 2
    assert out.getvalue() == ""
    assert err.getvalue().startswith("usage: kubectl scipian")
    assert message in err.getvalue()
    assert "Traceback" not in err.getvalue()


def context(
    tmp_path: Path | None = None, **environ: str
) -> tuple[Context, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    env = {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path or "/nonexistent"), **environ}
    return Context(out, err, env, interactive=False), out, err


def test_help_is_kubectl_scipian_on_stdout() -> None:
    for argv in (["-h"], [], ["dev", "-h"], ["login", "-h"]):
        ctx, out, err = context()
        assert cli.run(argv, ctx) == 0
        assert out.getvalue().startswith("usage: kubectl scipian"), argv
        assert err.getvalue() == ""


def test_version() -> None:
    ctx, out, _ = context()
    assert cli.run(["version"], ctx) == 0
    assert out.getvalue().startswith("kubectl-scipian ")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            errors.AuthError("HTTP 403 Forbidden"),
            "Invalid authentication for provided environment.\n",
        ),
        (errors.EnvNotFound("HTTP 404"), "Invalid environment referenced.\n"),
        (
            errors.LoginRequired("not logged in"),
            "Invalid authentication for provided environment.\nhint: run 'kubectl scipian login'\n",
        ),
        (
            errors.FreshLoginUnprovable(300, "no auth_time"),
            "Invalid authentication for provided environment.\n"
            "hint: deploy credentials need a login no older than 300s and the identity "
            "provider does not show one: no auth_time; ask your Scipian admin\n",
        ),
        (errors.BackendUnreachable("cannot reach X"), "error: cannot reach X\n"),
        (errors.ConfigError("bad"), "error: bad\n"),
        (
            errors.ClusterUnauthorized("dev"),
            "error: You must be logged in to the server (Unauthorized)\n",
        ),
    ],
)
def test_report_prints_exact_words_and_exits_1(error: errors.ScipianError, expected: str) -> None:
    err = io.StringIO()
    assert cli.report(error, err, verbose=0) == 1
    assert err.getvalue() == expected


def test_report_detail_only_with_verbose() -> None:
    err = io.StringIO()
    cli.report(errors.AuthError("HTTP 401 Unauthorized: token expired"), err, verbose=1)
    assert err.getvalue() == (
        "kubectl-scipian: debug: HTTP 401 Unauthorized: token expired\n"
        "Invalid authentication for provided environment.\n"
    )


def test_invalid_env_id_is_the_env_error_without_network(tmp_path: Path) -> None:
    ctx, _, err = context(tmp_path, SCIPIAN_BACKEND_URL="http://127.0.0.1:9")
    assert cli.run(["Not_An_Env", "get", "pods"], ctx) == 1
    assert err.getvalue() == "Invalid environment referenced.\n"


def test_not_logged_in_without_terminal_fails_at_once(tmp_path: Path) -> None:
    # Port 9 (discard) is never contacted: without a login nothing goes to the network.
    ctx, out, err = context(tmp_path, SCIPIAN_BACKEND_URL="http://127.0.0.1:9")
    assert cli.run(["dev", "get", "pods"], ctx) == 1
    assert err.getvalue() == (
        "Invalid authentication for provided environment.\nhint: run 'kubectl scipian login'\n"
    )
    assert out.getvalue() == ""


def test_unexpected_exception_is_one_line_without_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubectl_scipian.commands import version

    def boom(args: object, ctx: object) -> int:
        raise RuntimeError("token: secret-value")

    monkeypatch.setattr(version, "run", boom)
    ctx, _, err = context(tmp_path)
    assert cli.run(["version"], ctx) == 1
    assert err.getvalue() == "error: internal error (RuntimeError); rerun with -v\n"


@pytest.mark.parametrize("argv", [["version"], ["-h"], ["envs"]])
def test_start_up_does_not_import_kubernetes(tmp_path: Path, argv: list[str]) -> None:
    """`envs` fails here (no login), but only after it has imported all it needs."""
    probe = (
        "import sys\n"
        "from kubectl_scipian.cli import run\n"
        f"code = run({argv!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'yaml'))\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={
            "KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path),
            "SCIPIAN_BACKEND_URL": "http://127.0.0.1:9",
            "PATH": "/usr/bin:/bin",
        },
        timeout=60,
        check=True,
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("verb", ["get", "describe", "logs"])
def test_verb_help_needs_no_backend_or_login(verb: str, tmp_path: Path) -> None:
    env = {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "kubectl_scipian", "dev", verb, "-h"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert f"kubectl scipian ENV {verb} " in done.stdout
    assert "Options:" in done.stdout
    assert not any(tmp_path.iterdir())  # nothing cached, nothing fetched

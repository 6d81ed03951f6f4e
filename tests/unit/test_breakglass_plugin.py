"""`kubectl scipian ENV ack-break-glass ID --reason R`: parsing and bad input (no network)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubectl_scipian import cli
from kubectl_scipian.context import Context

GOOD_ID = "0123456789abcdef"


def context(tmp_path: Path) -> tuple[Context, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    # Port 9 (discard) is never contacted: bad input is refused before any network.
    env = {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), "SCIPIAN_BACKEND_URL": "http://127.0.0.1:9"}
    return Context(out, err, env, interactive=False), out, err


def test_parses_env_id_and_reason() -> None:
    args = cli.parse(["prod", "ack-break-glass", GOOD_ID, "--reason", "seen"], io.StringIO())
    assert (args.command, args.env_id, args.id, args.reason) == (
        "ack-break-glass",
        "prod",
        GOOD_ID,
        "seen",
    )


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        (
            ["prod", "ack-break-glass", "../../x", "--reason", "r"],
            2,
            "error: '../../x' is not a break-glass id (16 hexadecimal characters)\n",
        ),
        (
            ["prod", "ack-break-glass", GOOD_ID],
            2,
            "error: ack-break-glass needs --reason TEXT (or SCIPIAN_REASON): why it is fine\n",
        ),
        (
            ["prod", "ack-break-glass", GOOD_ID, "--reason", "a\x1b[2Kb"],
            2,
            "error: --reason must be printable text on one line\n",
        ),
        (
            ["Not_An_Env", "ack-break-glass", GOOD_ID, "--reason", "r"],
            1,
            "Invalid environment referenced.\n",
        ),
    ],
)
def test_bad_input_is_one_line_without_network(
    tmp_path: Path, argv: list[str], code: int, line: str
) -> None:
    ctx, out, err = context(tmp_path)
    assert cli.run(argv, ctx) == code
    assert (out.getvalue(), err.getvalue()) == ("", line)


def test_dev_and_prod_is_one_environment_only(tmp_path: Path) -> None:
    ctx, _, err = context(tmp_path)
    assert cli.run(["dev,prod", "ack-break-glass", GOOD_ID, "--reason", "r"], ctx) == 2
    assert "takes one environment" in err.getvalue()

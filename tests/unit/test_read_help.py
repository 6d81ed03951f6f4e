"""`ENV get|describe|logs -h` is written from the verbs' parsers: it lists exactly the
flags they take, each once, with kubectl's default notation."""

from __future__ import annotations

import argparse

import pytest

from kubectl_scipian.read.flags import PARSERS
from kubectl_scipian.read.help import text


def listed(verb: str) -> list[str]:
    """The long flags of the help's Options section, in order."""
    options = text(verb).split("Options:\n", 1)[1]
    return [line.split("--", 1)[1].split("=")[0].split()[0] for line in options.splitlines()]


@pytest.mark.parametrize("verb", sorted(PARSERS))
def test_help_lists_every_flag_the_parser_takes(verb: str) -> None:
    parsed = {
        next(o for o in a.option_strings if o.startswith("--"))[2:]
        for a in PARSERS[verb]()._actions
        if a.help != argparse.SUPPRESS
    }
    assert sorted(listed(verb)) == sorted(parsed)
    assert listed(verb) == sorted(listed(verb))  # kubectl's order


def test_help_shows_values_as_kubectl_does() -> None:
    logs = text("logs")
    assert "  -c, --container=''            the container to print the logs of\n" in logs
    assert "      --tail=-1                 lines of recent log to show" in logs
    assert "  -f, --follow                  stream the logs\n" in logs
    assert "--v" not in logs.replace("--v=", "")  # kubectl's -v is parsed, not advertised
    assert "      --chunk-size=500 " in text("get")
    assert "  -L, --label-columns=[] " in text("get")

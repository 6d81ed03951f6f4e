"""Server warnings: parsed as apimachinery's ParseWarningHeaders, printed as kubectl prints them."""

from __future__ import annotations

import io

import pytest

from kubectl_scipian.read.warnings import ServerWarning, WarningWriter, parse


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        (['299 - "a is deprecated"'], [ServerWarning(299, "-", "a is deprecated")]),
        (
            ['299 - "one", 299 - "two" "Sun, 29 Nov 2026 00:00:00 GMT"', '199 agent "three"'],
            [
                ServerWarning(299, "-", "one"),
                ServerWarning(299, "-", "two"),
                ServerWarning(199, "agent", "three"),
            ],
        ),
        (['299 - "say \\"hi\\" \\\\ bye"'], [ServerWarning(299, "-", 'say "hi" \\ bye')]),
        (
            ['299 - "ok", garbage', '299 - "next"'],
            [ServerWarning(299, "-", "ok"), ServerWarning(299, "-", "next")],
        ),
        (['299 - "unterminated'], []),
        (['29 - "short code"'], []),
        (['299 - "x" trailing'], []),
        (['299 - "bell\x07"'], []),
    ],
)
def test_parse(headers: list[str], found: list[ServerWarning]) -> None:
    assert parse(headers) == found


class Headers:
    def __init__(self, *values: str) -> None:
        self.values = list(values)

    def getlist(self, name: str) -> list[str]:
        return self.values if name == "Warning" else []


def test_writer_prints_299_once_each() -> None:
    err = io.StringIO()
    writer = WarningWriter(err)
    writer.handle(Headers('299 - "v1beta1 is deprecated"', '199 - "not for people"'))
    writer.handle(Headers('299 - "v1beta1 is deprecated", 299 - "another"'))
    writer.handle(Headers('299 - ""'))
    writer.handle(None)
    writer.handle({"Warning": '299 - "from a plain mapping"'})
    assert err.getvalue() == (
        "Warning: v1beta1 is deprecated\nWarning: another\nWarning: from a plain mapping\n"
    )


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_writer_colours_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    tty = Tty()
    WarningWriter(tty).handle(Headers('299 - "x"'))
    assert tty.getvalue() == "\x1b[33;1mWarning:\x1b[0m x\n"
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Tty()
    WarningWriter(plain).handle(Headers('299 - "x"'))
    assert plain.getvalue() == "Warning: x\n"

"""Go's text/tabwriter (flags 0, space padding) for whole buffered outputs.

Cells end at a tab; the text after a line's last tab is not part of any
column, so it is neither padded nor counted. A column block is a run of
consecutive lines that have a cell in that column; widths are per block.
"""

from __future__ import annotations

from collections.abc import Sequence


def _width(s: str) -> int:
    return len(s)  # Go counts runes


def format_lines(
    lines: Sequence[Sequence[str]],
    minwidth: int,
    padding: int,
    remembered: list[int] | None = None,
) -> str:
    """Lines given as their cells (the last one unterminated) → aligned text, one \\n each.

    `remembered`: the column widths of earlier flushes, grown in place (kubectl's tabwriter
    fork flag RememberWidths, which `get --watch` flushes once per event with): a column
    is never narrower than it was before.
    """
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            line = lines[i]
            parts = []
            last = len(line) - 1
            for j, cell in enumerate(line):
                if j < len(widths) and j < last:
                    parts.append(cell + " " * (widths[j] - _width(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                w = _width(lines[this][column]) + padding
                width = max(width, w)
                this += 1
            if remembered is not None:
                depth = len(widths)
                if len(remembered) < depth:
                    remembered.extend(widths[len(remembered) :])
                if len(remembered) == depth:
                    remembered.append(width)
                else:
                    width = max(width, remembered[depth])
                    remembered[depth] = width
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(line + "\n" for line in out)


def format_text(text: str, minwidth: int, padding: int) -> str:
    """Text with tabs and newlines, as Go's tabwriter prints it (text ends in \\n)."""
    if text.endswith("\n"):
        text = text[:-1]
    return format_lines([line.split("\t") for line in text.split("\n")], minwidth, padding)
